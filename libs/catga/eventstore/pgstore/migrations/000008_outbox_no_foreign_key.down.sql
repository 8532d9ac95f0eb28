ALTER TABLE {{prefix}}outbox ADD CONSTRAINT outbox_position_fkey FOREIGN KEY (position) REFERENCES {{prefix}}events (position);
ALTER TABLE {{prefix}}outbox_parked ADD CONSTRAINT outbox_parked_position_fkey FOREIGN KEY (position) REFERENCES {{prefix}}events (position);
