-- AlterTable
ALTER TABLE "users" ADD COLUMN "oidc_groups" TEXT NOT NULL DEFAULT '[]';
