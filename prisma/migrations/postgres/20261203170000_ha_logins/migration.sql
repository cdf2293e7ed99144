-- Web logins and OIDC sign-ins shared by every instance on the database (PostgreSQL only;
-- with SQLite there is one instance and they stay in its memory).

-- A registration waiting for a decision, written by the instance the client reached. A
-- decision is a conditional UPDATE (verdict IS NULL), so it is made once across instances;
-- the trigger announces it, and the instance holding the client's long-poll answers it.
-- claim_token/claimed_until: an instance writing the node for an approval holds the row
-- for a short lease, so no other instance decides it meanwhile (and a crash frees it).
-- Only public keys and the client's own Hostinfo are here: nothing secret.
CREATE TABLE "ha_pending_registrations" (
    "id" TEXT NOT NULL,
    "machine_key" TEXT NOT NULL,
    "node_key" TEXT NOT NULL,
    "hostinfo" TEXT,
    "hostname" TEXT NOT NULL DEFAULT '',
    "ephemeral" BOOLEAN NOT NULL DEFAULT false,
    "requested_expiry" TIMESTAMPTZ,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
    "expires_at" TIMESTAMPTZ NOT NULL,
    "verdict" TEXT,
    "node_id" INTEGER,
    "reason" TEXT,
    "claim_token" TEXT,
    "claimed_until" TIMESTAMPTZ,

    CONSTRAINT "ha_pending_registrations_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "ha_pending_registrations_verdict_check" CHECK ("verdict" IS NULL OR "verdict" IN ('approved', 'rejected'))
);

-- One entry per machine, as in memory.
CREATE UNIQUE INDEX "ha_pending_registrations_machine_key_key" ON "ha_pending_registrations"("machine_key");
CREATE INDEX "ha_pending_registrations_expires_at_idx" ON "ha_pending_registrations"("expires_at");

CREATE TRIGGER "ha_pending_registrations_ha_change" AFTER INSERT OR UPDATE OR DELETE ON "ha_pending_registrations" FOR EACH ROW EXECUTE FUNCTION "ha_record_change"();

-- An OIDC sign-in between the redirect to the provider and its callback, which may reach
-- another instance. Keyed by sha256 of the state (the browser holds the state itself);
-- the nonce and PKCE verifier are sealed with a key derived from the state, so a row alone
-- gives neither. Taken with DELETE ... RETURNING: used once.
CREATE TABLE "ha_oidc_flows" (
    "state_hash" TEXT NOT NULL,
    "sealed" BYTEA NOT NULL,
    "expires_at" TIMESTAMPTZ NOT NULL,

    CONSTRAINT "ha_oidc_flows_pkey" PRIMARY KEY ("state_hash")
);

CREATE INDEX "ha_oidc_flows_expires_at_idx" ON "ha_oidc_flows"("expires_at");
