ALTER TABLE {{prefix}}streams DROP COLUMN deleted;
