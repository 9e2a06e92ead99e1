-- More notification channel types (#12): ntfy, email (SMTP), Discord, Slack and Telegram. config holds the
-- settings of the types that need more than a URL (the SMTP server and addresses, the Telegram chat); it holds no
-- credential: passwords and bot tokens stay in token, sealed like the others.
ALTER TABLE notification_channels DROP CONSTRAINT IF EXISTS notification_channels_type_check;
ALTER TABLE notification_channels ADD CONSTRAINT notification_channels_type_check
    CHECK (type IN ('gotify', 'webhook', 'ntfy', 'email', 'discord', 'slack', 'telegram'));
ALTER TABLE notification_channels ADD COLUMN config jsonb NOT NULL DEFAULT '{}';
