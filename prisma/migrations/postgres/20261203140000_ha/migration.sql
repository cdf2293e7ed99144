-- Several instances on one database (PostgreSQL only; SQLite stays single-instance).
-- Every committed change to the tailnet's tables is recorded in ha_changes by a trigger, in
-- the writing transaction, and announced with NOTIFY; other instances re-read the rows named.

-- The changelog: seq orders changes; instance is the writer's id (connection setting
-- switchboard.instance, empty for writes made outside an instance), so it can skip its own.
CREATE TABLE "ha_changes" (
    "seq" BIGSERIAL NOT NULL,
    "instance" TEXT NOT NULL DEFAULT '',
    "kind" TEXT NOT NULL,
    "ref" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT now(),

    CONSTRAINT "ha_changes_pkey" PRIMARY KEY ("seq")
);

CREATE INDEX "ha_changes_created_at_idx" ON "ha_changes"("created_at");

-- Live instances; a row whose heartbeat went stale is removed by the leader.
CREATE TABLE "ha_instances" (
    "id" TEXT NOT NULL,
    "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
    "heartbeat_at" TIMESTAMPTZ NOT NULL DEFAULT now(),

    CONSTRAINT "ha_instances_pkey" PRIMARY KEY ("id")
);

-- Which instance streams maps to which node: a node is online while it has a row here.
-- Removing an instance removes its rows, which announces those nodes offline. cap is the
-- capability version the node's client speaks (peers see it; it is not stored elsewhere).
CREATE TABLE "ha_streams" (
    "node_id" INTEGER NOT NULL,
    "instance" TEXT NOT NULL,
    "cap" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "ha_streams_pkey" PRIMARY KEY ("node_id", "instance"),
    CONSTRAINT "ha_streams_node_id_fkey" FOREIGN KEY ("node_id") REFERENCES "nodes"("id") ON DELETE CASCADE,
    CONSTRAINT "ha_streams_instance_fkey" FOREIGN KEY ("instance") REFERENCES "ha_instances"("id") ON DELETE CASCADE
);

CREATE INDEX "ha_streams_instance_idx" ON "ha_streams"("instance");

-- The payload carries ids only, never a row's contents (keys, hashes): readers fetch rows.
CREATE FUNCTION "ha_record_change"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r RECORD;
    ref TEXT;
    who TEXT := coalesce(current_setting('switchboard.instance', true), '');
    s BIGINT;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    IF TG_TABLE_NAME = 'settings' THEN
        ref := left(r.key, 200);
    ELSIF TG_TABLE_NAME = 'ha_streams' THEN
        ref := r.node_id::text;
    ELSE
        ref := r.id::text;
    END IF;
    INSERT INTO "ha_changes" ("instance", "kind", "ref") VALUES (who, TG_TABLE_NAME, ref) RETURNING "seq" INTO s;
    PERFORM pg_notify('switchboard_changes', json_build_object('i', who, 's', s, 'k', TG_TABLE_NAME, 'r', ref)::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER "users_ha_change" AFTER INSERT OR UPDATE OR DELETE ON "users" FOR EACH ROW EXECUTE FUNCTION "ha_record_change"();
CREATE TRIGGER "nodes_ha_change" AFTER INSERT OR UPDATE OR DELETE ON "nodes" FOR EACH ROW EXECUTE FUNCTION "ha_record_change"();
CREATE TRIGGER "pre_auth_keys_ha_change" AFTER INSERT OR UPDATE OR DELETE ON "pre_auth_keys" FOR EACH ROW EXECUTE FUNCTION "ha_record_change"();
CREATE TRIGGER "api_keys_ha_change" AFTER INSERT OR UPDATE OR DELETE ON "api_keys" FOR EACH ROW EXECUTE FUNCTION "ha_record_change"();
CREATE TRIGGER "settings_ha_change" AFTER INSERT OR UPDATE OR DELETE ON "settings" FOR EACH ROW EXECUTE FUNCTION "ha_record_change"();
CREATE TRIGGER "ha_streams_ha_change" AFTER INSERT OR UPDATE OR DELETE ON "ha_streams" FOR EACH ROW EXECUTE FUNCTION "ha_record_change"();
