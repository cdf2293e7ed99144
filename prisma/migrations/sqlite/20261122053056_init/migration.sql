-- CreateTable
CREATE TABLE "users" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "name" TEXT NOT NULL,
    "display_name" TEXT NOT NULL DEFAULT '',
    "email" TEXT NOT NULL DEFAULT '',
    "provider_identifier" TEXT NOT NULL DEFAULT '',
    "provider" TEXT NOT NULL DEFAULT '',
    "profile_pic_url" TEXT NOT NULL DEFAULT '',
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "pre_auth_keys" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "prefix" TEXT NOT NULL,
    "hash" TEXT NOT NULL,
    "user_id" INTEGER,
    "reusable" BOOLEAN NOT NULL DEFAULT false,
    "ephemeral" BOOLEAN NOT NULL DEFAULT false,
    "used" BOOLEAN NOT NULL DEFAULT false,
    "tags" TEXT NOT NULL DEFAULT '[]',
    "expiration" DATETIME,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "pre_auth_keys_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "nodes" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "machine_key" TEXT NOT NULL,
    "node_key" TEXT NOT NULL,
    "disco_key" TEXT NOT NULL DEFAULT '',
    "endpoints" TEXT NOT NULL DEFAULT '[]',
    "host_info" TEXT NOT NULL DEFAULT '{}',
    "ipv4" TEXT,
    "ipv6" TEXT,
    "hostname" TEXT NOT NULL DEFAULT '',
    "given_name" TEXT NOT NULL,
    "user_id" INTEGER,
    "register_method" TEXT NOT NULL,
    "tags" TEXT NOT NULL DEFAULT '[]',
    "auth_key_id" INTEGER,
    "ephemeral" BOOLEAN NOT NULL DEFAULT false,
    "expiry" DATETIME,
    "last_seen" DATETIME,
    "approved_routes" TEXT NOT NULL DEFAULT '[]',
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" DATETIME NOT NULL,
    CONSTRAINT "nodes_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "nodes_auth_key_id_fkey" FOREIGN KEY ("auth_key_id") REFERENCES "pre_auth_keys" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "api_keys" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "prefix" TEXT NOT NULL,
    "hash" TEXT NOT NULL,
    "expiration" DATETIME,
    "last_seen" DATETIME,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateTable
CREATE TABLE "settings" (
    "key" TEXT NOT NULL PRIMARY KEY,
    "value" TEXT NOT NULL,
    "updated_at" DATETIME NOT NULL
);

-- CreateIndex
CREATE UNIQUE INDEX "users_name_key" ON "users"("name");

-- CreateIndex
CREATE INDEX "users_provider_identifier_idx" ON "users"("provider_identifier");

-- CreateIndex
CREATE UNIQUE INDEX "pre_auth_keys_hash_key" ON "pre_auth_keys"("hash");

-- CreateIndex
CREATE INDEX "pre_auth_keys_prefix_idx" ON "pre_auth_keys"("prefix");

-- CreateIndex
CREATE INDEX "pre_auth_keys_user_id_idx" ON "pre_auth_keys"("user_id");

-- CreateIndex
CREATE UNIQUE INDEX "nodes_machine_key_key" ON "nodes"("machine_key");

-- CreateIndex
CREATE UNIQUE INDEX "nodes_node_key_key" ON "nodes"("node_key");

-- CreateIndex
CREATE UNIQUE INDEX "nodes_ipv4_key" ON "nodes"("ipv4");

-- CreateIndex
CREATE UNIQUE INDEX "nodes_ipv6_key" ON "nodes"("ipv6");

-- CreateIndex
CREATE UNIQUE INDEX "nodes_given_name_key" ON "nodes"("given_name");

-- CreateIndex
CREATE INDEX "nodes_user_id_idx" ON "nodes"("user_id");

-- CreateIndex
CREATE INDEX "nodes_auth_key_id_idx" ON "nodes"("auth_key_id");

-- CreateIndex
CREATE UNIQUE INDEX "api_keys_prefix_key" ON "api_keys"("prefix");
