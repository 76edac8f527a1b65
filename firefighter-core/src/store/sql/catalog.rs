//! [`CatalogStore`] on both backends.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::AssertSqlSafe;
use sqlx::error::ErrorKind;

use crate::access::CatalogTimes;
use crate::impact::{ImpactLevel, ImpactLevelOption};
use crate::store::{Catalog, CatalogStore};
use crate::{
    CategoryId, CostType, CostTypeId, Environment, Error, Group, ImpactType, IncidentCategory,
    MetricType, MilestoneType, Priority, PriorityId, Result, RoleType,
};

use super::{base::*, convert::*, error::*, rows::*};

/// Implements [`CatalogStore`] for a backend.
macro_rules! catalog_sql {
    (
        store: $Store:ty,
        db: $Db:ty,
        conn: $Conn:ty,
        backend: $backend:literal,
        begin_write: $begin:literal,
        skip_locked: $lock:literal,
        like: $like:literal $(,)?
    ) => {
        #[async_trait]
        impl CatalogStore for $Store {
            async fn catalog(&self) -> Result<Catalog> {
                let mut conn = self.pool.acquire().await?;
                let priorities: Vec<PriorityRow> = sqlx::query_as(
                    "SELECT id, name, value, emoji, description, sort_order, is_default, needs_postmortem, enabled_create, \
                     enabled_update, reminder_time_secs, sla_secs, recommended_response_type, \
                     postmortem_reminder_time_secs, postmortem_reminder_repeat_time_secs FROM priorities \
                     ORDER BY sort_order, value, name",
                )
                .fetch_all(&mut *conn)
                .await?;
                let environments: Vec<EnvironmentRow> = sqlx::query_as(
                    "SELECT id, value, name, description, sort_order, is_default FROM environments ORDER BY sort_order, value",
                )
                .fetch_all(&mut *conn)
                .await?;
                let groups: Vec<GroupRow> = sqlx::query_as(
                    "SELECT id, name, description, sort_order FROM category_groups ORDER BY sort_order, name",
                )
                .fetch_all(&mut *conn)
                .await?;
                let categories: Vec<CategoryRow> = sqlx::query_as(
                    "SELECT c.id, c.name, c.description, c.sort_order, c.group_id, c.private, c.deploy_warning, c.enabled_create \
                     FROM incident_categories c JOIN category_groups g ON g.id = c.group_id \
                     ORDER BY g.sort_order, g.name, c.sort_order, c.name",
                )
                .fetch_all(&mut *conn)
                .await?;
                let role_types: Vec<RoleTypeRow> = sqlx::query_as(
                    "SELECT id, slug, name, emoji, required, sort_order, summary, description, aka FROM role_types \
                     ORDER BY sort_order, slug",
                )
                .fetch_all(&mut *conn)
                .await?;
                let milestone_types: Vec<MilestoneTypeRow> = sqlx::query_as(
                    "SELECT event_type, name, summary, user_editable, required, asked_for, description FROM milestone_types \
                     ORDER BY seq, event_type",
                )
                .fetch_all(&mut *conn)
                .await?;
                let metric_types: Vec<MetricTypeRow> = sqlx::query_as(
                    "SELECT slug, code, name, description, end_event, start_event FROM metric_types ORDER BY seq, slug",
                )
                .fetch_all(&mut *conn)
                .await?;
                let cost_types: Vec<CostTypeRow> = sqlx::query_as(
                    "SELECT id, name, description, category, is_default, editable FROM cost_types ORDER BY seq, name",
                )
                .fetch_all(&mut *conn)
                .await?;
                let impact_types: Vec<ImpactTypeRow> = sqlx::query_as(
                    "SELECT value, name, emoji, help_text, sort_order FROM impact_types ORDER BY sort_order, value",
                )
                .fetch_all(&mut *conn)
                .await?;
                let impact_levels: Vec<ImpactLevelRow> = sqlx::query_as(
                    "SELECT impact_type, level, name, description FROM impact_levels ORDER BY impact_type, position",
                )
                .fetch_all(&mut *conn)
                .await?;

                let mut levels: HashMap<String, Vec<ImpactLevelOption>> = HashMap::new();
                for l in impact_levels {
                    let level = ImpactLevel::from_code(&l.level)
                        .ok_or_else(|| corrupt(format!("unknown impact level \"{}\"", l.level)))?;
                    levels.entry(l.impact_type).or_default().push(ImpactLevelOption {
                        level,
                        name: l.name,
                        description: l.description,
                    });
                }
                Ok(Catalog {
                    priorities: priorities
                        .into_iter()
                        .map(|p| {
                            Ok(Priority {
                                id: p.id,
                                name: p.name,
                                value: p.value,
                                emoji: p.emoji,
                                description: p.description,
                                order: p.sort_order,
                                default: p.is_default,
                                needs_postmortem: p.needs_postmortem,
                                enabled_create: p.enabled_create,
                                enabled_update: p.enabled_update,
                                reminder_time: duration(p.reminder_time_secs),
                                postmortem_reminder_time: duration(p.postmortem_reminder_time_secs),
                                postmortem_reminder_repeat_time: duration(
                                    p.postmortem_reminder_repeat_time_secs,
                                ),
                                sla: duration(p.sla_secs),
                                recommended_response_type: p
                                    .recommended_response_type
                                    .as_deref()
                                    .map(response_type_from)
                                    .transpose()?,
                            })
                        })
                        .collect::<Result<_>>()?,
                    environments: environments
                        .into_iter()
                        .map(|e| Environment {
                            id: e.id,
                            value: e.value,
                            name: e.name,
                            description: e.description,
                            order: e.sort_order,
                            default: e.is_default,
                        })
                        .collect(),
                    groups: groups
                        .into_iter()
                        .map(|g| Group {
                            id: g.id,
                            name: g.name,
                            description: g.description,
                            order: g.sort_order,
                        })
                        .collect(),
                    categories: categories
                        .into_iter()
                        .map(|c| IncidentCategory {
                            id: c.id,
                            name: c.name,
                            description: c.description,
                            order: c.sort_order,
                            group_id: c.group_id,
                            private: c.private,
                            deploy_warning: c.deploy_warning,
                            enabled_create: c.enabled_create,
                        })
                        .collect(),
                    role_types: role_types
                        .into_iter()
                        .map(|r| RoleType {
                            id: r.id,
                            slug: r.slug,
                            name: r.name,
                            emoji: r.emoji,
                            required: r.required,
                            order: r.sort_order,
                            summary: r.summary,
                            description: r.description,
                            aka: r.aka,
                        })
                        .collect(),
                    milestone_types: milestone_types
                        .into_iter()
                        .map(|m| MilestoneType {
                            event_type: m.event_type,
                            name: m.name,
                            summary: m.summary,
                            user_editable: m.user_editable,
                            required: m.required,
                            asked_for: m.asked_for,
                            description: m.description,
                        })
                        .collect(),
                    metric_types: metric_types
                        .into_iter()
                        .map(|m| MetricType {
                            slug: m.slug,
                            code: m.code,
                            name: m.name,
                            description: m.description,
                            end_event: m.end_event,
                            start_event: m.start_event,
                        })
                        .collect(),
                    cost_types: cost_types
                        .into_iter()
                        .map(|c| CostType {
                            id: c.id,
                            name: c.name,
                            description: c.description,
                            category: c.category,
                            default: c.is_default,
                            editable: c.editable,
                        })
                        .collect(),
                    impact_types: impact_types
                        .into_iter()
                        .map(|t| ImpactType {
                            levels: levels.remove(&t.value).unwrap_or_default(),
                            value: t.value,
                            name: t.name,
                            emoji: t.emoji,
                            help_text: t.help_text,
                            order: t.sort_order,
                        })
                        .collect(),
                })
            }

            async fn upsert_priority(&self, p: &Priority) -> Result<()> {
                let query = sqlx::query(
                    "INSERT INTO priorities (id, name, value, emoji, description, sort_order, is_default, needs_postmortem, \
                     enabled_create, enabled_update, reminder_time_secs, sla_secs, recommended_response_type, created_at, updated_at, \
                     postmortem_reminder_time_secs, postmortem_reminder_repeat_time_secs) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15, $16) \
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, value = excluded.value, emoji = excluded.emoji, \
                     description = excluded.description, sort_order = excluded.sort_order, is_default = excluded.is_default, \
                     needs_postmortem = excluded.needs_postmortem, enabled_create = excluded.enabled_create, \
                     enabled_update = excluded.enabled_update, reminder_time_secs = excluded.reminder_time_secs, \
                     sla_secs = excluded.sla_secs, recommended_response_type = excluded.recommended_response_type, \
                     updated_at = excluded.updated_at, postmortem_reminder_time_secs = excluded.postmortem_reminder_time_secs, \
                     postmortem_reminder_repeat_time_secs = excluded.postmortem_reminder_repeat_time_secs",
                )
                .bind(p.id)
                .bind(p.name.as_str())
                .bind(p.value)
                .bind(p.emoji.as_str())
                .bind(p.description.as_str())
                .bind(p.order)
                .bind(p.default)
                .bind(p.needs_postmortem)
                .bind(p.enabled_create)
                .bind(p.enabled_update)
                .bind(secs(p.reminder_time))
                .bind(secs(p.sla))
                .bind(p.recommended_response_type.map(response_type_str))
                .bind(crate::clock::now())
                .bind(secs(p.postmortem_reminder_time))
                .bind(secs(p.postmortem_reminder_repeat_time));
                self.write_one(query, VersionsChanged::Reference).await.map_err(unique_conflict)?;
                Ok(())
            }

            async fn upsert_environment(&self, e: &Environment) -> Result<()> {
                let query = sqlx::query(
                    "INSERT INTO environments (id, value, name, description, sort_order, is_default) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (id) DO UPDATE SET value = excluded.value, name = excluded.name, \
                     description = excluded.description, sort_order = excluded.sort_order, is_default = excluded.is_default",
                )
                .bind(e.id)
                .bind(e.value.as_str())
                .bind(e.name.as_str())
                .bind(e.description.as_str())
                .bind(e.order)
                .bind(e.default);
                self.write_one(query, VersionsChanged::Reference).await.map_err(unique_conflict)?;
                Ok(())
            }

            async fn upsert_group(&self, g: &Group) -> Result<()> {
                let query = sqlx::query(
                    "INSERT INTO category_groups (id, name, description, sort_order, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $5) \
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description, \
                     sort_order = excluded.sort_order, updated_at = excluded.updated_at",
                )
                .bind(g.id)
                .bind(g.name.as_str())
                .bind(g.description.as_str())
                .bind(g.order)
                .bind(crate::clock::now());
                self.write_one(query, VersionsChanged::Reference).await.map_err(unique_conflict)?;
                Ok(())
            }

            async fn upsert_category(&self, c: &IncidentCategory) -> Result<()> {
                let query = sqlx::query(
                    "INSERT INTO incident_categories (id, name, description, sort_order, group_id, private, deploy_warning, \
                     created_at, updated_at, enabled_create) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) \
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description, \
                     sort_order = excluded.sort_order, group_id = excluded.group_id, private = excluded.private, \
                     deploy_warning = excluded.deploy_warning, updated_at = excluded.updated_at, \
                     enabled_create = excluded.enabled_create",
                )
                .bind(c.id)
                .bind(c.name.as_str())
                .bind(c.description.as_str())
                .bind(c.order)
                .bind(c.group_id)
                .bind(c.private)
                .bind(c.deploy_warning)
                .bind(crate::clock::now())
                .bind(c.enabled_create);
                let done = self.write_one(query, VersionsChanged::Reference).await;
                match done {
                    Ok(_) => Ok(()),
                    Err(e) => {
                        if is_kind(&e, ErrorKind::ForeignKeyViolation) {
                            Err(Error::not_found("group", c.group_id))
                        } else {
                            Err(unique_conflict(e))
                        }
                    }
                }
            }

            async fn upsert_role_type(&self, r: &RoleType) -> Result<()> {
                let query = sqlx::query(
                    "INSERT INTO role_types (id, slug, name, emoji, required, sort_order, summary, description, aka) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (id) DO UPDATE SET slug = excluded.slug, name = excluded.name, emoji = excluded.emoji, \
                     required = excluded.required, sort_order = excluded.sort_order, summary = excluded.summary, \
                     description = excluded.description, aka = excluded.aka",
                )
                .bind(r.id)
                .bind(r.slug.as_str())
                .bind(r.name.as_str())
                .bind(r.emoji.as_str())
                .bind(r.required)
                .bind(r.order)
                .bind(r.summary.as_str())
                .bind(r.description.as_str())
                .bind(r.aka.as_str());
                self.write_one(query, VersionsChanged::Reference).await.map_err(unique_conflict)?;
                Ok(())
            }

            async fn upsert_milestone_type(&self, m: &MilestoneType) -> Result<()> {
                // `seq` is set once, on insert, to keep the order types were first stored in.
                let query = sqlx::query(
                    "INSERT INTO milestone_types (event_type, name, summary, user_editable, required, asked_for, description, seq) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, (SELECT COALESCE(MAX(seq), 0) + 1 FROM milestone_types)) \
                     ON CONFLICT (event_type) DO UPDATE SET name = excluded.name, summary = excluded.summary, \
                     user_editable = excluded.user_editable, required = excluded.required, asked_for = excluded.asked_for, \
                     description = excluded.description",
                )
                .bind(m.event_type.as_str())
                .bind(m.name.as_str())
                .bind(m.summary.as_str())
                .bind(m.user_editable)
                .bind(m.required)
                .bind(m.asked_for)
                .bind(m.description.as_str());
                self.write_one(query, VersionsChanged::Reference).await?;
                Ok(())
            }

            async fn upsert_metric_type(&self, m: &MetricType) -> Result<()> {
                let query = sqlx::query(
                    "INSERT INTO metric_types (slug, code, name, description, end_event, start_event, seq) \
                     VALUES ($1, $2, $3, $4, $5, $6, (SELECT COALESCE(MAX(seq), 0) + 1 FROM metric_types)) \
                     ON CONFLICT (slug) DO UPDATE SET code = excluded.code, name = excluded.name, \
                     description = excluded.description, end_event = excluded.end_event, start_event = excluded.start_event",
                )
                .bind(m.slug.as_str())
                .bind(m.code.as_str())
                .bind(m.name.as_str())
                .bind(m.description.as_str())
                .bind(m.end_event.as_str())
                .bind(m.start_event.as_str());
                let done = self.write_one(query, VersionsChanged::Reference).await;
                match done {
                    Ok(_) => Ok(()),
                    Err(e) => {
                        if is_kind(&e, ErrorKind::ForeignKeyViolation) {
                            Err(Error::invalid(
                                "metric_type",
                                format!(
                                    "metric {} refers to key event types \"{}\" and \"{}\"; both must exist",
                                    m.slug, m.start_event, m.end_event
                                ),
                            ))
                        } else {
                            Err(unique_conflict(e))
                        }
                    }
                }
            }

            async fn upsert_cost_type(&self, c: &CostType) -> Result<()> {
                let query = sqlx::query(
                    "INSERT INTO cost_types (id, name, description, category, is_default, editable, seq, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, (SELECT COALESCE(MAX(seq), 0) + 1 FROM cost_types), $7, $7) \
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description, \
                     category = excluded.category, is_default = excluded.is_default, editable = excluded.editable, \
                     updated_at = excluded.updated_at",
                )
                .bind(c.id)
                .bind(c.name.as_str())
                .bind(c.description.as_str())
                .bind(c.category.as_str())
                .bind(c.default)
                .bind(c.editable)
                .bind(crate::clock::now());
                self.write_one(query, VersionsChanged::Reference).await.map_err(unique_conflict)?;
                Ok(())
            }

            async fn upsert_impact_type(&self, t: &ImpactType) -> Result<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO impact_types (value, name, emoji, help_text, sort_order) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (value) DO UPDATE SET name = excluded.name, emoji = excluded.emoji, \
                     help_text = excluded.help_text, sort_order = excluded.sort_order",
                )
                .bind(t.value.as_str())
                .bind(t.name.as_str())
                .bind(t.emoji.as_str())
                .bind(t.help_text.as_str())
                .bind(t.order)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM impact_levels WHERE impact_type = $1")
                    .bind(t.value.as_str())
                    .execute(&mut *tx)
                    .await?;
                for (position, l) in t.levels.iter().enumerate() {
                    sqlx::query(
                        "INSERT INTO impact_levels (impact_type, level, name, description, position) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(t.value.as_str())
                    .bind(l.level.code())
                    .bind(l.name.as_str())
                    .bind(l.description.as_str())
                    .bind(i32::try_from(position).unwrap_or(i32::MAX))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| unique_conflict(e.into()))?;
                }
                Self::bump(&mut tx, VersionsChanged::Reference).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn seeded(&self) -> Result<bool> {
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM seed_marker").fetch_one(&self.pool).await?;
                Ok(n > 0)
            }

            async fn mark_seeded(&self) -> Result<()> {
                sqlx::query("INSERT INTO seed_marker (id, seeded_at) VALUES (1, $1) ON CONFLICT (id) DO NOTHING")
                    .bind(crate::clock::now())
                    .execute(&self.writer)
                    .await?;
                Ok(())
            }

            async fn catalog_times(&self) -> Result<CatalogTimes> {
                let mut conn = self.pool.acquire().await?;
                let mut read = async |table: &str| -> Result<Vec<TimesRow>> {
                    // `table` is one of the constants below, never input.
                    let sql = format!("SELECT id, created_at, updated_at FROM {table}");
                    Ok(sqlx::query_as(AssertSqlSafe(sql)).fetch_all(&mut *conn).await?)
                };
                Ok(CatalogTimes {
                    priorities: times_map(read("priorities").await?, PriorityId),
                    groups: times_map(read("category_groups").await?, crate::GroupId),
                    categories: times_map(read("incident_categories").await?, CategoryId),
                    cost_types: times_map(read("cost_types").await?, CostTypeId),
                })
            }
        }
    };
}

for_each_backend!(catalog_sql);
