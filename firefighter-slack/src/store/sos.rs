//! SOS targets: where to ask for help.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::{Error, Result};

use super::*;

/// An SOS target: where to ask for help, and whom to address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Sos {
    /// Identifier.
    pub id: Uuid,
    /// Name shown in the SOS modal.
    pub name: String,
    /// The channel to post in.
    pub channel_id: String,
    /// The user group to mention (`@here` when none).
    pub usergroup_id: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl SlackStore {
    /// Adds an SOS target.
    pub async fn add_sos(
        &self,
        name: &str,
        channel_id: &str,
        usergroup_id: Option<&str>,
    ) -> Result<Sos> {
        let sos = Sos {
            id: Uuid::new_v4(),
            name: name.trim().to_owned(),
            channel_id: channel_id.to_owned(),
            usergroup_id: usergroup_id.map(str::to_owned),
            created_at: now(),
        };
        if sos.name.is_empty() {
            return Err(Error::BadRequest("an SOS needs a name".into()));
        }
        let r = on_pool!(self, pool => sqlx::query(
            "INSERT INTO slack_sos (id, name, channel_id, usergroup_id, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(sos.id).bind(&sos.name).bind(&sos.channel_id).bind(&sos.usergroup_id).bind(sos.created_at)
        .execute(pool).await.map(|r| r.rows_affected()));
        match r {
            Ok(_) => Ok(sos),
            Err(e) if unique_violation(&e) => Err(Error::BadRequest(format!(
                "an SOS named {} exists",
                sos.name
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Every SOS target.
    pub async fn sos_list(&self) -> Result<Vec<Sos>> {
        on_pool!(self, pool => Ok(sqlx::query_as::<_, Sos>(
            "SELECT id, name, channel_id, usergroup_id, created_at FROM slack_sos ORDER BY name",
        )
        .fetch_all(pool)
        .await?))
    }

    /// Removes an SOS target.
    pub async fn delete_sos(&self, id: Uuid) -> Result<bool> {
        let r = on_pool!(self, pool => sqlx::query("DELETE FROM slack_sos WHERE id = $1").bind(id).execute(pool).await?.rows_affected());
        Ok(r > 0)
    }
}
