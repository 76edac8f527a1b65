//! [`UserStore`] on both backends.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use sqlx::AssertSqlSafe;
use sqlx::error::ErrorKind;

use crate::store::{UserStore, UserUpsert};
use crate::{Error, NewUser, Result, User, UserId};

use super::{CHUNK, USER_CHUNK};
use super::{base::*, convert::*, error::*, query::*, rows::*};

/// Implements [`UserStore`] for a backend.
macro_rules! user_sql {
    (
        store: $Store:ty,
        db: $Db:ty,
        conn: $Conn:ty,
        backend: $backend:literal,
        begin_write: $begin:literal,
        skip_locked: $lock:literal,
        like: $like:literal $(,)?
    ) => {
        impl $Store {
            /// One chunk of [`UserStore::upsert_users`] (no repeated e-mail or external id).
            pub(super) async fn upsert_users_chunk(&self, chunk: Vec<UserUpsert>) -> Result<HashMap<String, UserId>> {
                let now = crate::clock::now();
                let mut tx = self.begin_write().await?;
                let written = async {
                    let mut sql = String::from(
                        "INSERT INTO users (id, email, name, is_active, is_staff, is_admin, bot, avatar, password_hash, \
                         created_at, updated_at) VALUES ",
                    );
                    let mut args = Vec::with_capacity(chunk.len() * 5);
                    for (n, u) in chunk.iter().enumerate() {
                        let b = n * 5;
                        if n > 0 {
                            sql.push_str(", ");
                        }
                        sql.push_str(&format!(
                            "(${}, ${}, ${}, TRUE, FALSE, FALSE, FALSE, ${}, NULL, ${}, ${})",
                            b + 1, b + 2, b + 3, b + 4, b + 5, b + 5
                        ));
                        args.push(Arg::Uuid(UserId::new().0));
                        args.push(Arg::Text(u.email.as_str().to_lowercase()));
                        // As `create_user`: no name, the e-mail's local part.
                        let name = match u.name.trim() {
                            "" => u.email.as_str().split('@').next().unwrap_or_default(),
                            n => n,
                        };
                        args.push(Arg::Text(name.to_owned()));
                        args.push(match &u.avatar {
                            Some(a) => Arg::Text(a.clone()),
                            None => Arg::NullText,
                        });
                        args.push(Arg::Ts(now));
                    }
                    sql.push_str(
                        " ON CONFLICT (email) DO UPDATE SET name = excluded.name, avatar = excluded.avatar, \
                         updated_at = excluded.updated_at RETURNING id, email",
                    );
                    let rows: Vec<(UserId, String)> =
                        sqlx::query_as_with(AssertSqlSafe(sql), Self::args(args)?)
                            .fetch_all(&mut *tx)
                            .await?;
                    let ids: HashMap<String, UserId> = rows.into_iter().map(|(id, e)| (e, id)).collect();
                    let links: Vec<(UserId, &str, &str)> = chunk
                        .iter()
                        .filter_map(|u| {
                            let (platform, external) = u.identity.as_ref()?;
                            let id = *ids.get(&u.email.as_str().to_lowercase())?;
                            Some((id, platform.as_str(), external.as_str()))
                        })
                        .collect();
                    if !links.is_empty() {
                        // Moved from whoever held these external ids, then (re)linked.
                        let mut platforms: BTreeMap<&str, Vec<Arg>> = BTreeMap::new();
                        let mut ins = String::from("INSERT INTO user_identities (user_id, platform, external_id) VALUES ");
                        let mut ins_args = Vec::new();
                        for (n, (id, platform, external)) in links.iter().enumerate() {
                            if n > 0 {
                                ins.push_str(", ");
                            }
                            platforms.entry(platform).or_default().push(Arg::Text((*external).to_owned()));
                            ins.push_str(&format!("(${}, ${}, ${})", 3 * n + 1, 3 * n + 2, 3 * n + 3));
                            ins_args.push(Arg::Uuid(id.0));
                            ins_args.push(Arg::Text((*platform).to_owned()));
                            ins_args.push(Arg::Text((*external).to_owned()));
                        }
                        ins.push_str(" ON CONFLICT (user_id, platform) DO UPDATE SET external_id = excluded.external_id");
                        for (platform, externals) in platforms {
                            let del = format!(
                                "DELETE FROM user_identities WHERE platform = $1 AND external_id IN ({})",
                                (2..externals.len() + 2).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
                            );
                            let mut del_args = vec![Arg::Text(platform.to_owned())];
                            del_args.extend(externals);
                            sqlx::query_with(AssertSqlSafe(del), Self::args(del_args)?)
                                .execute(&mut *tx)
                                .await?;
                        }
                        sqlx::query_with(AssertSqlSafe(ins), Self::args(ins_args)?)
                            .execute(&mut *tx)
                            .await?;
                    }
                    Self::bump(&mut tx, VersionsChanged::User).await?;
                    Ok::<_, Error>(ids)
                }
                .await;
                Self::settle(tx, written).await
            }

            pub(super) async fn user_exists(conn: &mut $Conn, id: UserId) -> Result<bool> {
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE id = $1")
                    .bind(id)
                    .fetch_one(&mut *conn)
                    .await?;
                Ok(n > 0)
            }
        }

        #[async_trait]
        impl UserStore for $Store {
            async fn create_user(&self, user: &NewUser) -> Result<User> {
                let email = user.email.as_str().to_lowercase();
                let name = user
                    .name
                    .as_deref()
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned)
                    .unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
                let now = crate::clock::now();
                let id = UserId::new();
                let query = sqlx::query(
                    "INSERT INTO users (id, email, name, is_active, is_staff, is_admin, bot, avatar, password_hash, \
                     created_at, updated_at) VALUES ($1, $2, $3, TRUE, $4, $5, $6, NULL, NULL, $7, $7)",
                )
                .bind(id)
                .bind(email.as_str())
                .bind(name.as_str())
                .bind(user.is_staff)
                .bind(user.is_admin)
                .bind(user.bot)
                .bind(now);
                if let Err(e) = self.write_one(query, VersionsChanged::Data).await {
                    return Err(if is_kind(&e, ErrorKind::UniqueViolation) {
                        Error::Conflict(format!("a user with e-mail {email} already exists"))
                    } else {
                        e
                    });
                }
                Ok(User {
                    id,
                    email,
                    name,
                    is_active: true,
                    is_staff: user.is_staff,
                    is_admin: user.is_admin,
                    bot: user.bot,
                    avatar: None,
                    identities: BTreeMap::new(),
                    created_at: now,
                })
            }

            async fn user(&self, id: UserId) -> Result<Option<User>> {
                let rows: Vec<UserIdentityRow> = sqlx::query_as(concat!(user_identities_select!(), " WHERE u.id = $1"))
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(users_from_identity_rows(rows).pop())
            }

            async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
                let rows: Vec<UserIdentityRow> = sqlx::query_as(concat!(user_identities_select!(), " WHERE u.email = $1"))
                    .bind(email.trim().to_lowercase())
                    .fetch_all(&self.pool)
                    .await?;
                Ok(users_from_identity_rows(rows).pop())
            }

            async fn users(&self, ids: &[UserId]) -> Result<Vec<User>> {
                let ids = unique(ids);
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut conn = self.pool.acquire().await?;
                let mut rows: Vec<UserIdentityRow> = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(CHUNK) {
                    let sql = format!("{} WHERE u.id IN ({})", user_identities_select!(), Self::placeholders(chunk.len()));
                    let mut found: Vec<UserIdentityRow> =
                        sqlx::query_as_with(AssertSqlSafe(sql), Self::args(chunk.iter().map(|u| Arg::Uuid(u.0)))?)
                            .fetch_all(&mut *conn)
                            .await?;
                    rows.append(&mut found);
                }
                Ok(users_from_identity_rows(rows))
            }

            async fn list_users(&self) -> Result<Vec<User>> {
                let mut conn = self.pool.acquire().await?;
                let rows: Vec<UserRow> =
                    sqlx::query_as(concat!(user_select!(), " ORDER BY u.email")).fetch_all(&mut *conn).await?;
                let identities: Vec<(UserId, String, String)> =
                    sqlx::query_as("SELECT user_id, platform, external_id FROM user_identities")
                        .fetch_all(&mut *conn)
                        .await?;
                let mut by_user: HashMap<UserId, BTreeMap<String, String>> = HashMap::new();
                for (user, platform, external) in identities {
                    by_user.entry(user).or_default().insert(platform, external);
                }
                Ok(rows
                    .into_iter()
                    .map(|r| {
                        let ids = by_user.remove(&r.id).unwrap_or_default();
                        user_from_row(r, ids)
                    })
                    .collect())
            }

            async fn user_by_identity(&self, platform: &str, external_id: &str) -> Result<Option<User>> {
                let rows: Vec<UserIdentityRow> = sqlx::query_as(concat!(
                    user_identities_select!(),
                    " WHERE u.id = (SELECT l.user_id FROM user_identities l WHERE l.platform = $1 AND l.external_id = $2)"
                ))
                .bind(platform)
                .bind(external_id)
                .fetch_all(&self.pool)
                .await?;
                Ok(users_from_identity_rows(rows).pop())
            }

            async fn set_identity(&self, user: UserId, platform: &str, external_id: &str) -> Result<()> {
                let mut tx = self.begin_write().await?;
                if !Self::user_exists(&mut tx, user).await? {
                    return Err(Error::not_found("user", user));
                }
                // Relinking: the external id moves from whoever held it.
                sqlx::query("DELETE FROM user_identities WHERE platform = $1 AND external_id = $2 AND user_id <> $3")
                    .bind(platform)
                    .bind(external_id)
                    .bind(user)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO user_identities (user_id, platform, external_id) VALUES ($1, $2, $3) \
                     ON CONFLICT (user_id, platform) DO UPDATE SET external_id = excluded.external_id",
                )
                .bind(user)
                .bind(platform)
                .bind(external_id)
                .execute(&mut *tx)
                .await?;
                // Identities are part of the user that authentication resolves.
                Self::bump(&mut tx, VersionsChanged::User).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn upsert_users(&self, users: &[UserUpsert]) -> Result<Vec<UserId>> {
                // Last occurrence of an e-mail wins; an external id stays with the last user naming it.
                let mut last: HashMap<String, usize> = HashMap::new();
                for (n, u) in users.iter().enumerate() {
                    last.insert(u.email.as_str().to_lowercase(), n);
                }
                let mut external: HashMap<(&str, &str), usize> = HashMap::new();
                for (n, u) in users.iter().enumerate() {
                    if last[&u.email.as_str().to_lowercase()] == n
                        && let Some((p, e)) = &u.identity
                    {
                        external.insert((p.as_str(), e.as_str()), n);
                    }
                }
                let kept: Vec<UserUpsert> = users
                    .iter()
                    .enumerate()
                    .filter(|(n, u)| last[&u.email.as_str().to_lowercase()] == *n)
                    .map(|(n, u)| {
                        let mut u = u.clone();
                        if let Some((p, e)) = &u.identity
                            && external[&(p.as_str(), e.as_str())] != n
                        {
                            u.identity = None;
                        }
                        u
                    })
                    .collect();
                let mut ids: HashMap<String, UserId> = HashMap::with_capacity(kept.len());
                for chunk in kept.chunks(USER_CHUNK) {
                    let (this, chunk) = (self.clone(), chunk.to_vec());
                    ids.extend(self.on_writer(async move { this.upsert_users_chunk(chunk).await }).await??);
                }
                users
                    .iter()
                    .map(|u| {
                        let email = u.email.as_str().to_lowercase();
                        ids.get(&email)
                            .copied()
                            .ok_or_else(|| corrupt(format!("user {email} missing after its upsert")))
                    })
                    .collect()
            }

            async fn update_user(&self, user: &User) -> Result<()> {
                let query = sqlx::query(
                    "UPDATE users SET name = $1, is_active = $2, is_staff = $3, is_admin = $4, bot = $5, avatar = $6, \
                     updated_at = $7 WHERE id = $8",
                )
                .bind(user.name.as_str())
                .bind(user.is_active)
                .bind(user.is_staff)
                .bind(user.is_admin)
                .bind(user.bot)
                .bind(user.avatar.as_deref())
                .bind(crate::clock::now())
                .bind(user.id);
                if self.write_one(query, VersionsChanged::User).await? == 0 {
                    return Err(Error::not_found("user", user.id));
                }
                Ok(())
            }

            async fn set_password_hash<'a>(&self, user: UserId, hash: Option<&'a str>) -> Result<()> {
                let done = sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                    .bind(hash)
                    .bind(crate::clock::now())
                    .bind(user)
                    .execute(&self.writer)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(Error::not_found("user", user));
                }
                Ok(())
            }

            async fn set_first_password_hash(&self, user: UserId, hash: &str) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3 AND password_hash IS NULL",
                )
                .bind(hash)
                .bind(crate::clock::now())
                .bind(user)
                .execute(&self.writer)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn password_hash(&self, user: UserId) -> Result<Option<String>> {
                let hash: Option<Option<String>> = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
                    .bind(user)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(hash.flatten())
            }
        }
    };
}

for_each_backend!(user_sql);
