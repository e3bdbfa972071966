-- A bad down-migration: it purges the users 2.0 signed up (1.0 "cannot know them"), then drops the column.
DELETE FROM users WHERE signup_source IS NOT NULL;

ALTER TABLE users DROP COLUMN signup_source;
