import { GraphQLError } from 'graphql';

export interface SubscriptionCapSettings {
  /** Subscriptions one graphql-ws connection may have open at once. */
  perConnection: number;
  /** Subscriptions one identity (organisation and subject) may have open at once, over all its connections to this process. */
  perIdentity: number;
}

const tooMany = (code: string, message: string, limit: number) =>
  new GraphQLError(message, { extensions: { code, limit } });

/**
 * Caps what one client can make the gateway hold: each subscription is a
 * client queue and possibly its own upstream subgraph subscription. A
 * subscribe over a cap gets an error with its code; the connection and the
 * client's other subscriptions go on.
 */
export class SubscriptionCaps {
  private readonly open = new Map<string, number>();

  constructor(private readonly s: SubscriptionCapSettings) {}

  /** Throws when one more subscription would exceed a cap. `onConnection` counts the one being asked for. */
  check(identity: string, onConnection: number): void {
    if (onConnection > this.s.perConnection) {
      throw tooMany('SUBSCRIPTION.TOO_MANY_ON_CONNECTION', `this connection has ${this.s.perConnection} subscriptions open, the most allowed: complete one first`, this.s.perConnection);
    }
    if ((this.open.get(identity) ?? 0) >= this.s.perIdentity) {
      throw tooMany('SUBSCRIPTION.TOO_MANY_FOR_IDENTITY', `this identity has ${this.s.perIdentity} subscriptions open on this gateway, the most allowed: complete one first`, this.s.perIdentity);
    }
  }

  /** Counts a subscription for its identity until the stream ends, however it ends (complete, error, socket closed). */
  hold<T>(identity: string, stream: AsyncIterableIterator<T>): AsyncIterableIterator<T> {
    this.open.set(identity, (this.open.get(identity) ?? 0) + 1);
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      const n = (this.open.get(identity) ?? 1) - 1;
      if (n > 0) this.open.set(identity, n);
      else this.open.delete(identity);
    };
    return {
      async next() {
        try {
          const r = await stream.next();
          if (r.done) release();
          return r;
        } catch (e) {
          release();
          throw e;
        }
      },
      async return(v?: unknown) {
        release();
        return stream.return ? stream.return(v) : { value: undefined, done: true };
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  /** Open subscriptions of an identity (tests and operations read it). */
  openFor(identity: string): number {
    return this.open.get(identity) ?? 0;
  }
}

export const identityOfCaller = (c: { org: string; subject: string }): string => JSON.stringify([c.org, c.subject]);
