ALTER TABLE items DROP COLUMN never_added;
