//! The table of served resources: one line per kind.
//!
//! Every served resource is described by a [`ResourceDef`]. Two definitions may share one
//! storage (`store`): core/v1 `events` and events.k8s.io/v1 `events` are the same objects seen
//! through two API versions, as on a real cluster.

/// How stored objects are presented through a resource definition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// The object is served as stored.
    Identity,
    /// Stored as core/v1 `Event`, served as events.k8s.io/v1 `Event`.
    EventsV1,
}

/// What a create through the API does with the `status` the client sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusOnCreate {
    /// Keep the status the client sent (nodes, and kinds without a status subresource).
    Keep,
    /// Reset the status to `{}`.
    Clear,
    /// Reset the status to `{"phase": "Pending"}` (pods, persistent volumes and claims).
    Pending,
    /// Reset the status to `{"phase": "Active"}` (namespaces).
    Active,
}

/// One served resource.
#[derive(Clone, Copy, Debug)]
pub struct ResourceDef {
    /// API group, `""` for the core group.
    pub group: &'static str,
    /// API version inside the group.
    pub version: &'static str,
    /// Plural resource name used in URLs.
    pub plural: &'static str,
    /// Singular resource name.
    pub singular: &'static str,
    /// Object kind.
    pub kind: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names kubectl accepts (`po`, `no`, ...).
    pub short_names: &'static [&'static str],
    /// Whether the kind has a `status` subresource (status is then ignored on main-resource writes).
    pub status_subresource: bool,
    /// Storage key; definitions with the same key share their objects.
    pub store: &'static str,
    /// How stored objects are presented.
    pub view: View,
    /// Status handling on create.
    pub status_on_create: StatusOnCreate,
    /// kubectl categories (`all`).
    pub categories: &'static [&'static str],
    /// A review (TokenReview, SubjectAccessReview): only created, answered, never stored.
    pub review: bool,
}

impl ResourceDef {
    /// `apiVersion` of objects served through this definition (`v1`, `apps/v1`).
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `group/resource` as used in error messages (`pods`, `deployments.apps`).
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

use StatusOnCreate::{Active, Clear, Keep, Pending};
use View::{EventsV1, Identity};

#[allow(clippy::too_many_arguments)]
const fn def(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    status_subresource: bool,
    status_on_create: StatusOnCreate,
) -> ResourceDef {
    ResourceDef {
        group,
        version,
        plural,
        singular,
        kind,
        namespaced,
        short_names,
        status_subresource,
        store: plural,
        view: Identity,
        status_on_create,
        categories: &[],
        review: false,
    }
}

const fn with_categories(mut d: ResourceDef, categories: &'static [&'static str]) -> ResourceDef {
    d.categories = categories;
    d
}

const fn as_events_v1(mut d: ResourceDef) -> ResourceDef {
    d.view = EventsV1;
    d
}

const fn as_review(mut d: ResourceDef) -> ResourceDef {
    d.review = true;
    d
}

/// Every served resource. Adding a kind is one line here.
pub static RESOURCES: &[ResourceDef] = &[
    with_categories(
        def("", "v1", "pods", "pod", "Pod", true, &["po"], true, Pending),
        &["all"],
    ),
    def(
        "",
        "v1",
        "nodes",
        "node",
        "Node",
        false,
        &["no"],
        true,
        Keep,
    ),
    def(
        "",
        "v1",
        "namespaces",
        "namespace",
        "Namespace",
        false,
        &["ns"],
        true,
        Active,
    ),
    def(
        "",
        "v1",
        "events",
        "event",
        "Event",
        true,
        &["ev"],
        false,
        Keep,
    ),
    def(
        "",
        "v1",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        "PersistentVolumeClaim",
        true,
        &["pvc"],
        true,
        Pending,
    ),
    def(
        "",
        "v1",
        "persistentvolumes",
        "persistentvolume",
        "PersistentVolume",
        false,
        &["pv"],
        true,
        Pending,
    ),
    as_events_v1(def(
        "events.k8s.io",
        "v1",
        "events",
        "event",
        "Event",
        true,
        &["ev"],
        false,
        Keep,
    )),
    def(
        "storage.k8s.io",
        "v1",
        "storageclasses",
        "storageclass",
        "StorageClass",
        false,
        &["sc"],
        false,
        Keep,
    ),
    def(
        "storage.k8s.io",
        "v1",
        "csinodes",
        "csinode",
        "CSINode",
        false,
        &[],
        false,
        Keep,
    ),
    def(
        "storage.k8s.io",
        "v1",
        "csidrivers",
        "csidriver",
        "CSIDriver",
        false,
        &[],
        false,
        Keep,
    ),
    def(
        "storage.k8s.io",
        "v1",
        "csistoragecapacities",
        "csistoragecapacity",
        "CSIStorageCapacity",
        true,
        &[],
        false,
        Keep,
    ),
    def(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        "PodDisruptionBudget",
        true,
        &["pdb"],
        true,
        Clear,
    ),
    def(
        "coordination.k8s.io",
        "v1",
        "leases",
        "lease",
        "Lease",
        true,
        &[],
        false,
        Keep,
    ),
    def(
        "scheduling.k8s.io",
        "v1",
        "priorityclasses",
        "priorityclass",
        "PriorityClass",
        false,
        &["pc"],
        false,
        Keep,
    ),
    with_categories(
        def(
            "apps",
            "v1",
            "deployments",
            "deployment",
            "Deployment",
            true,
            &["deploy"],
            true,
            Clear,
        ),
        &["all"],
    ),
    with_categories(
        def(
            "apps",
            "v1",
            "statefulsets",
            "statefulset",
            "StatefulSet",
            true,
            &["sts"],
            true,
            Clear,
        ),
        &["all"],
    ),
    // Role-based access control: read by SubjectAccessReviews (reviews.rs), enforced on no
    // request to the sandbox itself.
    def(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        "clusterrole",
        "ClusterRole",
        false,
        &[],
        false,
        Keep,
    ),
    def(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "clusterrolebinding",
        "ClusterRoleBinding",
        false,
        &[],
        false,
        Keep,
    ),
    def(
        "rbac.authorization.k8s.io",
        "v1",
        "roles",
        "role",
        "Role",
        true,
        &[],
        false,
        Keep,
    ),
    def(
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "rolebinding",
        "RoleBinding",
        true,
        &[],
        false,
        Keep,
    ),
    as_review(def(
        "authentication.k8s.io",
        "v1",
        "tokenreviews",
        "tokenreview",
        "TokenReview",
        false,
        &[],
        false,
        Keep,
    )),
    as_review(def(
        "authorization.k8s.io",
        "v1",
        "subjectaccessreviews",
        "subjectaccessreview",
        "SubjectAccessReview",
        false,
        &[],
        false,
        Keep,
    )),
];

/// Looks a resource up by group, version and plural name.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceDef> {
    RESOURCES
        .iter()
        .find(|d| d.group == group && d.version == version && d.plural == plural)
}

/// Looks a resource up by plural name alone, preferring the core group (`events` → core/v1).
pub fn find_plural(plural: &str) -> Option<&'static ResourceDef> {
    RESOURCES.iter().find(|d| d.plural == plural)
}

/// Looks a resource up by `apiVersion` and `kind`, as written in a manifest.
pub fn find_kind(api_version: &str, kind: &str) -> Option<&'static ResourceDef> {
    RESOURCES
        .iter()
        .find(|d| d.kind == kind && d.api_version() == api_version)
}

/// The distinct API groups other than core, in table order, each with its versions.
pub fn groups() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for d in RESOURCES.iter().filter(|d| !d.group.is_empty()) {
        match out.iter_mut().find(|(g, _)| *g == d.group) {
            Some((_, versions)) => {
                if !versions.contains(&d.version) {
                    versions.push(d.version);
                }
            }
            None => out.push((d.group, vec![d.version])),
        }
    }
    out
}

/// All definitions of one group/version.
pub fn in_group_version(group: &str, version: &str) -> impl Iterator<Item = &'static ResourceDef> {
    let (group, version) = (group.to_string(), version.to_string());
    RESOURCES
        .iter()
        .filter(move |d| d.group == group && d.version == version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(find("", "v1", "pods").map(|d| d.kind), Some("Pod"));
        assert_eq!(
            find("events.k8s.io", "v1", "events").map(|d| d.view),
            Some(View::EventsV1)
        );
        assert_eq!(find_plural("events").map(|d| d.group), Some(""));
        assert_eq!(
            find_kind("apps/v1", "Deployment").map(|d| d.plural),
            Some("deployments")
        );
        assert!(find_kind("v1", "Deployment").is_none());
        assert!(
            groups()
                .iter()
                .any(|(g, v)| *g == "policy" && v == &vec!["v1"])
        );
        assert_eq!(in_group_version("", "v1").count(), 6);
    }

    #[test]
    fn storage_keys_are_unique_per_view() {
        for d in RESOURCES {
            let same: Vec<_> = RESOURCES.iter().filter(|o| o.store == d.store).collect();
            assert!(same.len() <= 2, "{}", d.plural);
        }
    }
}
