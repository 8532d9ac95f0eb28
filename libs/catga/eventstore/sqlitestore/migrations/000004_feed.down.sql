DROP TABLE {{prefix}}checkpoints;
