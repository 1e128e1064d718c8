-- The trace a settlement continues (the span that took in its trade; null when
-- tracing is off): the worker's steps on it are spans of that trace (kit/tracing.ts).
ALTER TABLE settlements ADD COLUMN traceparent text CHECK (length(traceparent) <= 128);
