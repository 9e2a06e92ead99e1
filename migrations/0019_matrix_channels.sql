-- Matrix as a notification channel type (#12): url is the homeserver, config.room_id the room, token the access
-- token (sealed like the others). Only the type's check changes.
ALTER TABLE notification_channels DROP CONSTRAINT IF EXISTS notification_channels_type_check;
ALTER TABLE notification_channels ADD CONSTRAINT notification_channels_type_check
    CHECK (type IN ('gotify', 'webhook', 'ntfy', 'email', 'discord', 'slack', 'telegram', 'matrix'));
