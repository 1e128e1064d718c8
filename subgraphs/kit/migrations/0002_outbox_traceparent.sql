-- The W3C traceparent of the span that wrote the event (null when tracing is
-- off): the consumer's span continues that trace (kit/tracing.ts).
ALTER TABLE outbox ADD COLUMN traceparent text CHECK (length(traceparent) <= 128);
