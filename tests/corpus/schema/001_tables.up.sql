CREATE TABLE big (id bigint PRIMARY KEY, v int NOT NULL, name varchar(100), note text, small_id int);
CREATE TABLE small (id int PRIMARY KEY, v int NOT NULL, note text, big_id bigint);
CREATE INDEX big_small_id_idx ON big (small_id);
