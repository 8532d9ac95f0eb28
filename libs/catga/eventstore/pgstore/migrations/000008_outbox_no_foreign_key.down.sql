ALTER TABLE {{prefix}}outbox RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, autovacuum_vacuum_cost_delay);
ALTER TABLE {{prefix}}outbox ADD CONSTRAINT outbox_position_fkey FOREIGN KEY (position) REFERENCES {{prefix}}events (position);
ALTER TABLE {{prefix}}outbox_parked ADD CONSTRAINT outbox_parked_position_fkey FOREIGN KEY (position) REFERENCES {{prefix}}events (position);
