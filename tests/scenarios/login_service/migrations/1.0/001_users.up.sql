CREATE TABLE users (
    id bigserial PRIMARY KEY,
    email text NOT NULL UNIQUE,
    pw text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- 50 identities the load logs in as: password pw-N.
INSERT INTO users (email, pw)
SELECT 'user' || g || '@example.test', 'sha256$' || encode(sha256(('pw-' || g)::bytea), 'hex')
FROM generate_series(1, 50) g;
