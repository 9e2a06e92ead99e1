-- Slow-cadence collection and device operations beyond containers (#11, #12, #13).
--
-- Drives, pools, services, updates, VMs and networks change slowly and some of them are costly to read (SMART can
-- wake a disk), so DevicePoll collects them on a cadence of their own: inventory_interval per device.
-- use_sudo lets the commands that need root (smartctl, systemctl actions, virsh actions, package-list refreshes)
-- run through `sudo -n`, under the sudo rules the device's setup installed.

ALTER TABLE devices
    ADD COLUMN inventory_interval_ms bigint NOT NULL DEFAULT 600000
        CHECK (inventory_interval_ms BETWEEN 60000 AND 86400000),
    ADD COLUMN use_sudo boolean NOT NULL DEFAULT false;

-- The last run of each collector on each device: when, whether it worked, its one-line summary. A collector with a
-- longer cadence of its own (package updates) is due when its last successful run is that old.
CREATE TABLE device_inventory (
    device_id    uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    collector    text NOT NULL,
    collected_at timestamptz NOT NULL,
    ok           boolean NOT NULL,
    summary      text NOT NULL DEFAULT '',
    error        text NOT NULL DEFAULT '',
    -- last_ok_at is when the collector last worked, kept across failed runs.
    last_ok_at   timestamptz,
    PRIMARY KEY (device_id, collector)
);

-- What an operation acts on: a container or compose project (the ContainerOperation workflow) or one of the device
-- operation kinds (the DeviceOperation workflow: zfs_scrub, smart_selftest, service, vm, package_lists ...).
ALTER TABLE operations ADD COLUMN kind text NOT NULL DEFAULT 'container';
UPDATE operations SET kind = 'compose' WHERE target LIKE 'compose:%';

-- Check rules watch what the slow-cadence collectors report (drive health, pool state, failed units ...).
ALTER TABLE alert_rules DROP CONSTRAINT alert_rules_kind_check;
ALTER TABLE alert_rules ADD CONSTRAINT alert_rules_kind_check
    CHECK (kind IN ('metric', 'offline', 'container', 'host_key', 'check'));
