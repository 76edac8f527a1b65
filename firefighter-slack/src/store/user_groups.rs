//! User groups and their members (`slack_usergroups`, `slack_usergroup_members`).

use firefighter_core::CategoryId;
use serde::Serialize;
use uuid::Uuid;

use crate::{Error, Result};

use super::*;

/// A user group firefighter knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredUserGroup {
    /// `S...`.
    pub usergroup_id: String,
    /// Handle, without `@`.
    pub handle: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// From another workspace.
    pub is_external: bool,
    /// Special meaning (`invited_for_all_public_p1`).
    pub tag: Option<String>,
    /// Members are invited to these categories' incidents.
    pub category_ids: Vec<CategoryId>,
    /// Members known.
    pub member_count: i64,
}

#[derive(sqlx::FromRow)]
struct UserGroupRow {
    usergroup_id: String,
    handle: String,
    name: String,
    description: String,
    is_external: bool,
    tag: Option<String>,
    member_count: i64,
}

pub(super) const USERGROUP_SELECT: &str = "SELECT g.usergroup_id, g.handle, g.name, g.description, g.is_external, g.tag, \
     (SELECT COUNT(*) FROM slack_usergroup_members m WHERE m.usergroup_id = g.usergroup_id) AS member_count \
     FROM slack_usergroups g";

impl SlackStore {
    /// Inserts a user group or refreshes its details (tag and categories are kept).
    pub async fn upsert_usergroup(
        &self,
        id: &str,
        handle: &str,
        name: &str,
        description: &str,
        is_external: bool,
    ) -> Result<()> {
        let at = now();
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO slack_usergroups (usergroup_id, handle, name, description, is_external, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (usergroup_id) DO UPDATE SET handle = excluded.handle, \
             name = excluded.name, description = excluded.description, is_external = excluded.is_external, updated_at = excluded.updated_at",
        )
        .bind(id).bind(handle).bind(name).bind(description).bind(is_external).bind(at)
        .execute(pool).await?.rows_affected());
        Ok(())
    }

    async fn usergroups_where(
        &self,
        clause: &str,
        arg: Option<&str>,
    ) -> Result<Vec<StoredUserGroup>> {
        let sql = format!("{USERGROUP_SELECT} {clause} ORDER BY g.handle");
        let rows: Vec<UserGroupRow> = on_pool!(self, pool => {
            let q = sqlx::query_as::<_, UserGroupRow>(sqlx::AssertSqlSafe(sql));
            let q = match arg { Some(a) => q.bind(a.to_owned()), None => q };
            q.fetch_all(pool).await?
        });
        let links: Vec<(String, Uuid)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT usergroup_id, category_id FROM slack_usergroup_categories",
        )
        .fetch_all(pool)
        .await?);
        Ok(rows
            .into_iter()
            .map(|r| StoredUserGroup {
                category_ids: links
                    .iter()
                    .filter(|(g, _)| *g == r.usergroup_id)
                    .map(|(_, c)| CategoryId(*c))
                    .collect(),
                usergroup_id: r.usergroup_id,
                handle: r.handle,
                name: r.name,
                description: r.description,
                is_external: r.is_external,
                tag: r.tag,
                member_count: r.member_count,
            })
            .collect())
    }

    /// Every user group.
    pub(crate) async fn usergroups(&self) -> Result<Vec<StoredUserGroup>> {
        self.usergroups_where("", None).await
    }

    /// A user group.
    pub async fn usergroup(&self, id: &str) -> Result<Option<StoredUserGroup>> {
        Ok(self
            .usergroups_where("WHERE g.usergroup_id = $1", Some(id))
            .await?
            .pop())
    }

    /// Tags a user group (`None` clears).
    pub async fn set_usergroup_tag(&self, id: &str, tag: Option<&str>) -> Result<()> {
        let tag = tag.map(str::trim).filter(|t| !t.is_empty());
        let r = on_pool!(self, pool => sqlx::query("UPDATE slack_usergroups SET tag = $2, updated_at = $3 WHERE usergroup_id = $1")
            .bind(id).bind(tag).bind(now()).execute(pool).await?.rows_affected());
        if r == 0 {
            return Err(Error::BadRequest(format!("user group {id} is not known")));
        }
        Ok(())
    }

    /// Links a user group to incident categories (replacing its links).
    pub async fn set_usergroup_categories(
        &self,
        id: &str,
        categories: &[CategoryId],
    ) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM slack_usergroup_categories WHERE usergroup_id = $1").bind(id).execute(&mut *tx).await?;
            for c in categories {
                sqlx::query("INSERT INTO slack_usergroup_categories (usergroup_id, category_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(id).bind(c.0).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Replaces the members of a user group.
    pub async fn set_usergroup_members(&self, id: &str, members: &[String]) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM slack_usergroup_members WHERE usergroup_id = $1").bind(id).execute(&mut *tx).await?;
            for chunk in members.chunks(BATCH) {
                let mut qb = sqlx::QueryBuilder::new("INSERT INTO slack_usergroup_members (usergroup_id, slack_id) ");
                qb.push_values(chunk, |mut b, m| {
                    b.push_bind(id.to_owned()).push_bind(m.clone());
                });
                qb.push(" ON CONFLICT DO NOTHING");
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Forgets a user group.
    pub async fn delete_usergroup(&self, id: &str) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for table in ["slack_usergroup_members", "slack_usergroup_categories", "slack_usergroups"] {
                let sql = format!("DELETE FROM {table} WHERE usergroup_id = $1");
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).execute(&mut *tx).await?;
            }
            sqlx::query("UPDATE slack_sos SET usergroup_id = NULL WHERE usergroup_id = $1").bind(id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        })
    }
}
