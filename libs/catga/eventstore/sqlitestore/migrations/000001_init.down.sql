DROP TABLE {{prefix}}outbox_lease;
DROP TABLE {{prefix}}snapshots;
DROP TABLE {{prefix}}inbox;
DROP TABLE {{prefix}}outbox;
DROP TABLE {{prefix}}events;
DROP TABLE {{prefix}}streams;
