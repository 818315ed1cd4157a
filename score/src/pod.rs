//! A pod's effective requests, computed as kube-scheduler computes them.
//!
//! Source: `component-helpers/resource/helpers.go` (`PodRequests`,
//! `AggregateContainerRequests`) and `pkg/scheduler/util/pod_resources.go`.
//! For every resource: regular containers are summed; init containers run one
//! at a time, so they count as a running maximum, except restartable init
//! containers (sidecars) which keep running and add to both the regular sum and
//! every later init container; pod-level `spec.resources.requests` replace the
//! aggregate for the resources they name; `spec.overhead` is added last.

use crate::model::{Container, PodSpec, ResourceList};

/// The CPU a container without a `cpu` request counts as when scoring (100m).
pub const DEFAULT_MILLI_CPU_REQUEST: u64 = 100;
/// The memory a container without a `memory` request counts as when scoring (200 MiB).
pub const DEFAULT_MEMORY_REQUEST: u64 = 200 * 1024 * 1024;

/// What a pod asks of a node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodRequests {
    /// CPU in millicores, as used by the fit filter.
    pub cpu_milli: u64,
    /// Memory in bytes, as used by the fit filter.
    pub memory: u64,
    /// Ephemeral storage in bytes.
    pub ephemeral_storage: u64,
    /// Extended resources with a non-zero request, sorted by name.
    pub extended: Vec<(String, u64)>,
    /// CPU with the 100m default for containers that name no cpu request (scoring only).
    pub nonzero_cpu_milli: u64,
    /// Memory with the 200 MiB default for containers that name no memory request (scoring only).
    pub nonzero_memory: u64,
}

/// Which resource an aggregation is about.
#[derive(Clone, Copy)]
enum Resource<'a> {
    Cpu,
    Memory,
    Ephemeral,
    Extended(&'a str),
}

impl Resource<'_> {
    fn get(self, list: &ResourceList) -> Option<u64> {
        match self {
            Resource::Cpu => list.cpu_milli,
            Resource::Memory => list.memory,
            Resource::Ephemeral => list.ephemeral_storage,
            Resource::Extended(name) => list
                .extended
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| *v),
        }
    }
}

/// Aggregates one resource over a pod. `missing_default` is substituted for
/// containers whose requests have no key for the resource.
fn aggregate(pod: &PodSpec, resource: Resource<'_>, missing_default: Option<u64>) -> u64 {
    let request = |c: &Container| resource.get(&c.requests).or(missing_default).unwrap_or(0);
    let mut regular: u64 = pod
        .containers
        .iter()
        .map(request)
        .fold(0, u64::saturating_add);
    let mut sidecars: u64 = 0;
    let mut init_max: u64 = 0;
    for init in &pod.init_containers {
        let r = request(init);
        if init.restartable {
            regular = regular.saturating_add(r);
            sidecars = sidecars.saturating_add(r);
            init_max = init_max.max(sidecars);
        } else {
            init_max = init_max.max(r.saturating_add(sidecars));
        }
    }
    let mut total = regular.max(init_max);
    if let Some(pod_level) = &pod.pod_requests {
        // Pod-level resources cover cpu and memory (and hugepages, which are
        // extended resources here).
        if let Some(v) = resource.get(pod_level) {
            total = v;
        }
    }
    total.saturating_add(resource.get(&pod.overhead).unwrap_or(0))
}

/// Computes a pod's requests.
#[must_use]
pub fn pod_requests(pod: &PodSpec) -> PodRequests {
    let mut names: Vec<&str> = Vec::new();
    let lists = pod
        .containers
        .iter()
        .chain(&pod.init_containers)
        .map(|c| &c.requests)
        .chain(std::iter::once(&pod.overhead))
        .chain(pod.pod_requests.iter());
    for list in lists {
        for (name, _) in &list.extended {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
    }
    names.sort_unstable();
    let extended = names
        .into_iter()
        .map(|n| (n.to_string(), aggregate(pod, Resource::Extended(n), None)))
        .filter(|(_, v)| *v > 0)
        .collect();
    PodRequests {
        cpu_milli: aggregate(pod, Resource::Cpu, None),
        memory: aggregate(pod, Resource::Memory, None),
        ephemeral_storage: aggregate(pod, Resource::Ephemeral, None),
        extended,
        nonzero_cpu_milli: aggregate(pod, Resource::Cpu, Some(DEFAULT_MILLI_CPU_REQUEST)),
        nonzero_memory: aggregate(pod, Resource::Memory, Some(DEFAULT_MEMORY_REQUEST)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(cpu: Option<u64>, mem: Option<u64>) -> Container {
        Container {
            requests: ResourceList {
                cpu_milli: cpu,
                memory: mem,
                ..ResourceList::default()
            },
            ..Container::default()
        }
    }

    fn sidecar(cpu: Option<u64>, mem: Option<u64>) -> Container {
        Container {
            restartable: true,
            ..container(cpu, mem)
        }
    }

    struct Case {
        name: &'static str,
        containers: Vec<Container>,
        init: Vec<Container>,
        overhead: ResourceList,
        pod_level: Option<ResourceList>,
        cpu: u64,
        mem: u64,
        nonzero_cpu: u64,
        nonzero_mem: u64,
    }

    const MI: u64 = 1024 * 1024;

    #[test]
    fn requests_follow_kube_aggregation() {
        let cases = vec![
            Case {
                name: "no requests at all: 0 to fit, defaults to score",
                containers: vec![container(None, None)],
                init: vec![],
                overhead: ResourceList::default(),
                pod_level: None,
                cpu: 0,
                mem: 0,
                nonzero_cpu: 100,
                nonzero_mem: 200 * MI,
            },
            Case {
                name: "explicit zero stays zero when scoring",
                containers: vec![container(Some(0), Some(0))],
                init: vec![],
                overhead: ResourceList::default(),
                pod_level: None,
                cpu: 0,
                mem: 0,
                nonzero_cpu: 0,
                nonzero_mem: 0,
            },
            Case {
                // 250 + 500 = 750m; memory 1Gi, and the second container has no
                // memory key: 1024Mi + 200Mi default = 1224Mi for scoring.
                name: "containers are summed",
                containers: vec![
                    container(Some(250), Some(1024 * MI)),
                    container(Some(500), None),
                ],
                init: vec![],
                overhead: ResourceList::default(),
                pod_level: None,
                cpu: 750,
                mem: 1024 * MI,
                nonzero_cpu: 750,
                nonzero_mem: 1224 * MI,
            },
            Case {
                // regular 500m; init containers 2000m then 100m: max(500, 2000) = 2000m.
                name: "init containers are a running maximum",
                containers: vec![container(Some(500), Some(MI))],
                init: vec![
                    container(Some(2000), Some(MI)),
                    container(Some(100), Some(MI)),
                ],
                overhead: ResourceList::default(),
                pod_level: None,
                cpu: 2000,
                mem: MI,
                nonzero_cpu: 2000,
                nonzero_mem: MI,
            },
            Case {
                // sidecar 300m runs beside everything: regular 500 + 300 = 800m;
                // the later init container counts 600 + 300 = 900m; max = 900m.
                name: "sidecars add to the sum and to later init containers",
                containers: vec![container(Some(500), Some(MI))],
                init: vec![sidecar(Some(300), Some(MI)), container(Some(600), Some(MI))],
                overhead: ResourceList::default(),
                pod_level: None,
                cpu: 900,
                mem: 2 * MI,
                nonzero_cpu: 900,
                nonzero_mem: 2 * MI,
            },
            Case {
                // 1000m + 250m overhead.
                name: "overhead is added",
                containers: vec![container(Some(1000), Some(MI))],
                init: vec![],
                overhead: ResourceList {
                    cpu_milli: Some(250),
                    memory: Some(MI),
                    ..ResourceList::default()
                },
                pod_level: None,
                cpu: 1250,
                mem: 2 * MI,
                nonzero_cpu: 1250,
                nonzero_mem: 2 * MI,
            },
            Case {
                // pod-level cpu 3000m replaces the container sum (1000m); memory
                // is not set at pod level, so the container aggregate stays.
                name: "pod-level requests replace the aggregate",
                containers: vec![container(Some(1000), Some(MI))],
                init: vec![],
                overhead: ResourceList::default(),
                pod_level: Some(ResourceList {
                    cpu_milli: Some(3000),
                    ..ResourceList::default()
                }),
                cpu: 3000,
                mem: MI,
                nonzero_cpu: 3000,
                nonzero_mem: MI,
            },
        ];
        for case in cases {
            let pod = PodSpec {
                containers: case.containers,
                init_containers: case.init,
                overhead: case.overhead,
                pod_requests: case.pod_level,
                ..PodSpec::default()
            };
            let r = pod_requests(&pod);
            assert_eq!(r.cpu_milli, case.cpu, "{}: cpu", case.name);
            assert_eq!(r.memory, case.mem, "{}: memory", case.name);
            assert_eq!(
                r.nonzero_cpu_milli, case.nonzero_cpu,
                "{}: non-zero cpu",
                case.name
            );
            assert_eq!(
                r.nonzero_memory, case.nonzero_mem,
                "{}: non-zero memory",
                case.name
            );
        }
    }

    #[test]
    fn extended_resources_are_aggregated_and_zero_ones_dropped() {
        let gpu = |n: u64| Container {
            requests: ResourceList {
                extended: vec![("nvidia.com/gpu".into(), n)],
                ..ResourceList::default()
            },
            ..Container::default()
        };
        let pod = PodSpec {
            containers: vec![gpu(1), gpu(1), container(None, None)],
            init_containers: vec![gpu(0)],
            ..PodSpec::default()
        };
        assert_eq!(
            pod_requests(&pod).extended,
            vec![("nvidia.com/gpu".to_string(), 2)]
        );
        let none = PodSpec {
            containers: vec![gpu(0)],
            ..PodSpec::default()
        };
        assert!(pod_requests(&none).extended.is_empty());
    }
}
