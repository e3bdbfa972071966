ALTER TABLE customers DROP COLUMN note;
