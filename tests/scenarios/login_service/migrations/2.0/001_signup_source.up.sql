ALTER TABLE users ADD COLUMN signup_source text;
