DROP TABLE {{prefix}}saga_fences;
