-- Notifications of notification-service and the inbox of the events it consumed.

CREATE TABLE notifications (
    -- Insertion order: newest first even within one clock tick.
    seq        BIGSERIAL UNIQUE,
    id         UUID PRIMARY KEY,
    user_id    UUID NOT NULL,
    channel    TEXT NOT NULL CHECK (channel IN ('email')),
    subject    TEXT NOT NULL,
    body       TEXT NOT NULL,
    -- One notification per event; the inbox below is what makes redeliveries no-ops.
    event_id   UUID NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX notifications_by_user ON notifications (user_id, seq DESC);

-- The inbox: events a consumer has processed (platform::inbox::first_time), written in the
-- transaction of the handler's effect.
CREATE TABLE processed_events (
    consumer     TEXT NOT NULL,
    event_id     UUID NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
