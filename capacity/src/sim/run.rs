//! One run: the event loop.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::time::Duration;

use score::decide::{Inputs, NominationChange, Verdict, decide};
use score::model::{
    Container, LabelSelector, NodeImage, NodeSpec, PodSpec, ResourceList, Terminating, Toleration,
    TolerationOperator,
};
use score::pod::{PodRequests, pod_requests};
use score::rng::SplitMix64;
use score::schedule::{Nominated, Scratch};
use score::{Cluster, Profile};

use super::report::{RunStats, Sample};
use super::{POOL_LABEL, SimOptions};
use crate::autoscaler::{self, Action, Autoscaler, NodeState, Place, Resources, Snapshot};
use crate::trace::Trace;

/// A scheduling policy under test: a name for the report and the profile
/// every decision runs with.
#[derive(Clone, Debug)]
pub struct Policy {
    /// What the report calls it (the config file, or a built-in name).
    pub name: String,
    /// The profile.
    pub profile: Profile,
}

/// Milliseconds since the trace's start.
type Ms = u64;

fn ms(d: Duration) -> Ms {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

const SECOND: Ms = 1000;

/// Extra simulated time after the trace's last session ends, so every
/// policy's nodes get the same chance to scale down within the horizon.
const TAIL: Ms = 2 * 3600 * SECOND;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// A session of the trace spawns its server.
    Spawn(u32),
    /// A node registers.
    NodeReady(u32),
    /// The user image is on a node.
    ImagePulled(u32),
    /// A victim of preemption is gone.
    VictimGone(u32),
    /// A user's server is running (image pulled).
    Running(u32),
    /// A user's server stops.
    Stop(u32),
    /// The autoscaler's step.
    Autoscale,
    /// A timeline sample.
    Sample,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// A user, with the index of its session.
    User(u32),
    Placeholder,
}

#[derive(Debug)]
struct PodState {
    spec: PodSpec,
    requests: PodRequests,
    role: Role,
    created: Ms,
    node: Option<u32>,
    /// Pending and marked PodScheduled=False/Unschedulable.
    unschedulable: bool,
    /// Evicted by preemption, still terminating.
    terminating: bool,
    /// Deleted.
    gone: bool,
}

#[derive(Debug)]
struct NodeRec {
    name: String,
    pool: usize,
    requested: Ms,
    registered: Option<Ms>,
    /// When the user image is there (`None`: not pulling).
    image_at: Option<Ms>,
    removed: bool,
}

struct Sim<'a> {
    trace: &'a Trace,
    options: &'a SimOptions,
    profile: &'a Profile,
    cluster: Cluster,
    now: Ms,
    seq: u64,
    events: BinaryHeap<Reverse<(Ms, u64, Event)>>,
    pods: Vec<PodState>,
    /// The pods not deleted yet.
    live: BTreeSet<u32>,
    /// Pending pods in kube's queue order: priority (highest first), then creation.
    queue: BTreeSet<(Reverse<i32>, Ms, u32)>,
    /// Pods added to the queue since the last pass.
    fresh: Vec<u32>,
    /// Whether the cluster changed in a way that can help pods that found no room.
    retry_all: bool,
    nominations: BTreeMap<u32, u32>,
    nodes: Vec<NodeRec>,
    /// Live nodes by name.
    by_name: std::collections::HashMap<String, u32>,
    node_counter: Vec<usize>,
    autoscaler: Autoscaler,
    ties: SplitMix64,
    delays: SplitMix64,
    scratch: Scratch,
    stats: RunStats,
    last_accounted: Ms,
    user_pool: usize,
}

/// Replays `trace` under `policy` with `seed` (node start and image pull
/// times, score tie-breaks).
#[must_use]
pub fn run(trace: &Trace, options: &SimOptions, policy: &Policy, seed: u64) -> RunStats {
    let mut seeds = SplitMix64::new(seed);
    let user_pool = options.pools.iter().position(|p| p.users).unwrap_or(0);
    let mut sim = Sim {
        trace,
        options,
        profile: &policy.profile,
        cluster: Cluster::new(policy.profile.roles.clone()),
        now: 0,
        seq: 0,
        events: BinaryHeap::new(),
        pods: Vec::new(),
        live: BTreeSet::new(),
        queue: BTreeSet::new(),
        fresh: Vec::new(),
        retry_all: false,
        nominations: BTreeMap::new(),
        nodes: Vec::new(),
        by_name: std::collections::HashMap::new(),
        node_counter: vec![0; options.pools.len()],
        autoscaler: Autoscaler::new(options.autoscaler.clone(), Duration::ZERO),
        ties: SplitMix64::new(seeds.next_u64()),
        delays: SplitMix64::new(seeds.next_u64()),
        scratch: Scratch::with_decision_cache(),
        stats: RunStats::new(&policy.name, seed, options),
        last_accounted: 0,
        user_pool,
    };
    sim.start();
    // The placeholders are in place before the first user comes.
    sim.schedule_pass();
    let horizon = trace.end().saturating_mul(SECOND).saturating_add(TAIL);
    while let Some(Reverse((at, _, event))) = sim.events.pop() {
        if at > horizon {
            break;
        }
        sim.account(at);
        sim.now = at;
        sim.handle(event);
        sim.schedule_pass();
    }
    sim.account(horizon);
    sim.finish(horizon)
}

impl Sim<'_> {
    fn push(&mut self, at: Ms, event: Event) {
        self.seq += 1;
        self.events.push(Reverse((at, self.seq, event)));
    }

    fn start(&mut self) {
        // Pools start at their minimum, registered and with the image.
        for pool in 0..self.options.pools.len() {
            for _ in 0..self.options.pools[pool].min_size {
                let id = self.new_node(pool);
                self.register(id);
                self.nodes[id as usize].image_at = Some(0);
                self.refresh_node(id);
            }
        }
        for _ in 0..self.options.placeholders {
            self.new_placeholder();
        }
        for (i, s) in self.trace.sessions().iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            self.push(u64::from(s.start) * SECOND, Event::Spawn(i));
        }
        self.push(0, Event::Autoscale);
        self.push(0, Event::Sample);
    }

    // === accounting ===

    /// Node-hours from the last accounted instant to `to`.
    fn account(&mut self, to: Ms) {
        let span = to.saturating_sub(self.last_accounted);
        if span == 0 {
            return;
        }
        self.last_accounted = to;
        let hours = span as f64 / 3_600_000.0;
        for node in self.nodes.iter().filter(|n| !n.removed) {
            self.stats.node_hours[node.pool] += hours;
            if node.registered.is_some()
                && let Some(i) = self.cluster.node_index(&node.name)
            {
                let users = self.cluster.real_users(i);
                if (1..=2).contains(&users) {
                    self.stats.sparse_node_hours += hours;
                }
            }
        }
    }

    fn finish(mut self, horizon: Ms) -> RunStats {
        for p in &self.pods {
            if let Role::User(_) = p.role
                && p.node.is_none()
                && !p.gone
            {
                self.stats.never_started += 1;
            }
        }
        self.stats.horizon_hours = horizon as f64 / 3_600_000.0;
        self.stats.finish();
        self.stats
    }

    // === nodes ===

    fn new_node(&mut self, pool: usize) -> u32 {
        self.node_counter[pool] += 1;
        let name = format!(
            "{}-{}",
            self.options.pools[pool].name, self.node_counter[pool]
        );
        let id = u32::try_from(self.nodes.len()).unwrap_or(u32::MAX);
        self.by_name.insert(name.clone(), id);
        self.nodes.push(NodeRec {
            name,
            pool,
            requested: self.now,
            registered: None,
            image_at: None,
            removed: false,
        });
        id
    }

    fn node_spec(&self, id: u32) -> NodeSpec {
        let node = &self.nodes[id as usize];
        let pool = &self.options.pools[node.pool];
        let mut labels = pool.labels.clone();
        labels.insert("kubernetes.io/hostname".into(), node.name.clone());
        labels.insert(POOL_LABEL.into(), pool.name.clone());
        let images = match node.image_at {
            Some(at) if at <= self.now => vec![NodeImage {
                names: vec![self.options.image.clone()],
                size_bytes: self.options.image_size,
            }],
            _ => Vec::new(),
        };
        NodeSpec {
            name: node.name.clone(),
            labels,
            taints: pool.taints.clone(),
            unschedulable: false,
            allocatable: ResourceList {
                cpu_milli: Some(pool.cpu_milli),
                memory: Some(pool.memory),
                pods: Some(pool.pods),
                ..ResourceList::default()
            },
            images,
        }
    }

    fn register(&mut self, id: u32) {
        self.nodes[id as usize].registered = Some(self.now);
        self.refresh_node(id);
    }

    fn refresh_node(&mut self, id: u32) {
        let spec = self.node_spec(id);
        self.cluster.upsert_node(&spec);
    }

    fn draw(&mut self, (low, high): (u32, u32)) -> Ms {
        self.delays.between(u64::from(low), u64::from(high)) * SECOND
    }

    fn remove_node(&mut self, id: u32) {
        let name = self.nodes[id as usize].name.clone();
        self.nodes[id as usize].removed = true;
        self.by_name.remove(&name);
        let on_it: Vec<u32> = self
            .live
            .iter()
            .copied()
            .filter(|&k| self.pods[k as usize].node == Some(id))
            .collect();
        for k in on_it {
            if matches!(self.pods[k as usize].role, Role::User(_)) {
                // A user's server killed: what this scheduler must never cause.
                self.stats.user_evictions += 1;
            }
            self.delete_pod(k);
        }
        self.cluster.remove_node(&name);
        self.nominations.retain(|_, n| *n != id);
        self.retry_all = true;
    }

    // === pods ===

    fn pod_id(uid: &str) -> Option<u32> {
        uid.strip_prefix('p')?.parse().ok()
    }

    fn new_pod(&mut self, role: Role, cpu: Option<u64>, memory: Option<u64>) -> u32 {
        let id = u32::try_from(self.pods.len()).unwrap_or(u32::MAX);
        let (component, priority, name) = match role {
            Role::User(s) => ("singleuser-server", 0, format!("jupyter-{s}")),
            Role::Placeholder => ("user-placeholder", -10, format!("user-placeholder-{id}")),
        };
        let tolerations = self.options.pools[self.user_pool]
            .taints
            .iter()
            .map(|t| Toleration {
                key: t.key.clone(),
                operator: TolerationOperator::Equal,
                value: t.value.clone(),
                effect: Some(t.effect),
            })
            .collect();
        let image = match role {
            Role::User(_) => self.options.image.clone(),
            Role::Placeholder => "registry.k8s.io/pause:3.10".into(),
        };
        let spec = PodSpec {
            namespace: "jhub".into(),
            name,
            uid: format!("p{id}"),
            labels: [("component".to_string(), component.to_string())].into(),
            priority,
            tolerations,
            containers: vec![Container {
                requests: ResourceList {
                    cpu_milli: cpu,
                    memory,
                    ..ResourceList::default()
                },
                image,
                ..Container::default()
            }],
            start_time: i64::try_from(self.now / SECOND).unwrap_or(i64::MAX),
            default_spread_selector: matches!(role, Role::Placeholder)
                .then(|| LabelSelector::equals("component", "user-placeholder")),
            ..PodSpec::default()
        };
        let requests = pod_requests(&spec);
        self.pods.push(PodState {
            spec,
            requests,
            role,
            created: self.now,
            node: None,
            unschedulable: false,
            terminating: false,
            gone: false,
        });
        self.queue.insert((Reverse(priority), self.now, id));
        self.live.insert(id);
        self.fresh.push(id);
        id
    }

    fn new_placeholder(&mut self) {
        let (cpu, memory) = self.options.placeholder_requests;
        self.new_pod(Role::Placeholder, cpu, memory);
    }

    fn delete_pod(&mut self, k: u32) {
        let pod = &mut self.pods[k as usize];
        if pod.gone {
            return;
        }
        pod.gone = true;
        self.live.remove(&k);
        let key = (Reverse(pod.spec.priority), pod.created, k);
        let role = pod.role;
        self.queue.remove(&key);
        self.cluster.remove_pod(&pod.spec.uid);
        self.nominations.remove(&k);
        self.retry_all = true;
        // The StatefulSet brings a placeholder back, pending.
        if role == Role::Placeholder {
            self.new_placeholder();
        }
    }

    // === events ===

    fn handle(&mut self, event: Event) {
        match event {
            Event::Spawn(s) => {
                let session = self.trace.sessions()[s as usize];
                self.stats.users += 1;
                self.new_pod(Role::User(s), session.cpu, session.memory);
            }
            Event::NodeReady(id) => {
                if self.nodes[id as usize].removed {
                    return;
                }
                self.register(id);
                if self.options.image_puller {
                    let at = self.now + self.draw(self.options.image_pull_seconds);
                    self.nodes[id as usize].image_at = Some(at);
                    self.push(at, Event::ImagePulled(id));
                }
                self.retry_all = true;
            }
            Event::ImagePulled(id) => {
                if !self.nodes[id as usize].removed {
                    self.refresh_node(id);
                }
            }
            Event::VictimGone(k) => self.delete_pod(k),
            Event::Running(k) => {
                let pod = &self.pods[k as usize];
                if pod.gone {
                    return;
                }
                if let Role::User(s) = pod.role {
                    let session = self.trace.sessions()[s as usize];
                    self.stats
                        .wait_running
                        .push((self.now - pod.created) as f64 / 1000.0);
                    let end = self.now + u64::from(session.duration) * SECOND;
                    self.push(end, Event::Stop(k));
                }
            }
            Event::Stop(k) => self.delete_pod(k),
            Event::Autoscale => self.autoscale(),
            Event::Sample => {
                self.sample();
                self.push(
                    self.now + ms(self.options.sample_every).max(1),
                    Event::Sample,
                );
            }
        }
    }

    fn sample(&mut self) {
        let mut nodes = vec![0u32; self.options.pools.len()];
        for n in self.nodes.iter().filter(|n| !n.removed) {
            nodes[n.pool] += 1;
        }
        let mut running = 0u32;
        let mut pending = 0u32;
        for p in self.live.iter().map(|&k| &self.pods[k as usize]) {
            if let Role::User(_) = p.role {
                if p.node.is_some() {
                    running += 1;
                } else {
                    pending += 1;
                }
            }
        }
        self.stats.timeline.push(Sample {
            hours: self.now as f64 / 3_600_000.0,
            nodes,
            users: running,
            pending,
        });
    }

    // === scheduling ===

    fn schedule_pass(&mut self) {
        let batch: Vec<u32> = if self.retry_all {
            self.fresh.clear();
            self.queue.iter().map(|&(_, _, k)| k).collect()
        } else {
            let mut fresh = std::mem::take(&mut self.fresh);
            fresh.sort_by_key(|&k| {
                let p = &self.pods[k as usize];
                (Reverse(p.spec.priority), p.created, k)
            });
            fresh
        };
        self.retry_all = false;
        for k in batch {
            if !self.pods[k as usize].gone && self.pods[k as usize].node.is_none() {
                self.try_schedule(k);
            }
        }
    }

    fn try_schedule(&mut self, k: u32) {
        let nominated: Vec<Nominated> = self
            .nominations
            .iter()
            .filter_map(|(&pk, &node)| {
                let p = &self.pods[pk as usize];
                let r = &p.requests;
                Some(Nominated {
                    uid: p.spec.uid.clone(),
                    priority: p.spec.priority,
                    node: self.cluster.node_index(&self.nodes[node as usize].name)?,
                    requests: [r.cpu_milli, r.memory, r.ephemeral_storage],
                })
            })
            .collect();
        let pod = &self.pods[k as usize];
        let verdict = decide(
            &Inputs {
                cluster: &self.cluster,
                profile: self.profile,
                pod: &pod.spec,
                requests: &pod.requests,
                nominated: &nominated,
                pdbs: &[],
            },
            &mut self.scratch,
            Some(&mut self.ties),
        );
        match verdict {
            Verdict::Assume { node, .. } => {
                let Some(&id) = self.by_name.get(self.cluster.node_name(node)) else {
                    return;
                };
                self.bind(k, id);
            }
            Verdict::Preempt { plan, kind, .. } => {
                let Some(&target) = self.by_name.get(&plan.node_name) else {
                    return;
                };
                let priority = self.pods[k as usize].spec.priority;
                let pods = &self.pods;
                self.nominations.retain(|&pk, &mut n| {
                    !(n == target && pods[pk as usize].spec.priority < priority)
                });
                self.nominations.insert(k, target);
                if kind == score::decide::PreemptionKind::Packing {
                    self.stats.packing_preemptions += 1;
                }
                for v in &plan.victims {
                    let Some(vk) = Self::pod_id(&v.uid) else {
                        continue;
                    };
                    self.stats.preemptions += 1;
                    if matches!(self.pods[vk as usize].role, Role::User(_)) {
                        self.stats.user_evictions += 1;
                    }
                    self.pods[vk as usize].terminating = true;
                    self.cluster
                        .set_terminating(&v.uid, Terminating::ByPreemption);
                    let at = self.now + ms(self.options.victim_grace);
                    self.push(at, Event::VictimGone(vk));
                }
                self.pods[k as usize].unschedulable = false;
            }
            Verdict::Unschedulable { nomination, .. } => {
                self.pods[k as usize].unschedulable = true;
                if nomination == NominationChange::Clear && self.nominations.remove(&k).is_some() {
                    self.retry_all = true;
                }
            }
            Verdict::Error(_) => self.pods[k as usize].unschedulable = true,
        }
    }

    fn bind(&mut self, k: u32, node: u32) {
        let now = self.now;
        let name = self.nodes[node as usize].name.clone();
        let registered = self.nodes[node as usize].registered.unwrap_or(now);
        let pod = &mut self.pods[k as usize];
        self.cluster
            .add_pod_with_requests(&pod.spec, &pod.requests, &name);
        pod.node = Some(node);
        pod.unschedulable = false;
        let key = (Reverse(pod.spec.priority), pod.created, k);
        let created = pod.created;
        let role = pod.role;
        self.queue.remove(&key);
        self.nominations.remove(&k);
        if let Role::User(_) = role {
            self.stats.wait_bound.push((now - created) as f64 / 1000.0);
            if registered > created {
                self.stats.waited_for_node += 1;
            }
            // The image: there, being pulled, or to pull now.
            let ready = match self.nodes[node as usize].image_at {
                Some(at) => at.max(now),
                None => {
                    let at = now + self.draw(self.options.image_pull_seconds);
                    self.nodes[node as usize].image_at = Some(at);
                    self.push(at, Event::ImagePulled(node));
                    at
                }
            };
            if ready > now {
                self.stats.cold_starts += 1;
            }
            self.push(ready, Event::Running(k));
        }
    }

    // === the autoscaler ===

    fn autoscale(&mut self) {
        let snapshot = self.snapshot();
        let pools = &self.options.pools;
        let node_pool: BTreeMap<&str, usize> = self
            .nodes
            .iter()
            .filter(|n| !n.removed)
            .map(|n| (n.name.as_str(), n.pool))
            .collect();
        let admission = |_: &str, place: Place<'_>| match place {
            Place::Node(name) => node_pool.get(name).is_some_and(|&p| pools[p].users),
            Place::Pool(name) => pools.iter().any(|p| p.name == name && p.users),
        };
        let now = Duration::from_millis(self.now);
        let scan = self.autoscaler.step(now, &snapshot, &admission);
        if let Some(scan) = scan {
            for action in scan.actions {
                self.act(action);
            }
        }
        let next = ms(self.autoscaler.next_step()).max(self.now + 1);
        self.push(next, Event::Autoscale);
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::ScaleUp { pool, nodes, .. } => {
                let Some(p) = self.options.pools.iter().position(|q| q.name == pool) else {
                    return;
                };
                self.stats.scale_ups += 1;
                for _ in 0..nodes {
                    let id = self.new_node(p);
                    self.stats.nodes_added += 1;
                    let at = self.now + self.draw(self.options.pools[p].start_seconds);
                    self.push(at, Event::NodeReady(id));
                }
            }
            Action::RemoveNode { node, .. } => {
                if let Some(&id) = self.by_name.get(&node) {
                    self.stats.scale_downs += 1;
                    self.remove_node(id);
                }
            }
            Action::GiveUp { node, .. } => {
                if let Some(id) = self.by_name.remove(&node) {
                    self.nodes[id as usize].removed = true;
                }
            }
        }
    }

    fn snapshot(&self) -> Snapshot {
        let resources = |r: &PodRequests| Resources {
            cpu_milli: r.cpu_milli,
            memory: r.memory,
            pods: 1,
        };
        let mut nodes: Vec<autoscaler::Node> = self
            .nodes
            .iter()
            .filter(|n| !n.removed)
            .map(|n| {
                let pool = &self.options.pools[n.pool];
                autoscaler::Node {
                    name: n.name.clone(),
                    pool: Some(pool.name.clone()),
                    allocatable: Resources {
                        cpu_milli: pool.cpu_milli,
                        memory: pool.memory,
                        pods: pool.pods,
                    },
                    state: match n.registered {
                        Some(_) => NodeState::Ready,
                        None => NodeState::Provisioning {
                            requested_at: Duration::from_millis(n.requested),
                        },
                    },
                    pods: Vec::new(),
                }
            })
            .collect();
        let index: BTreeMap<&str, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect();
        let mut bound: Vec<(usize, autoscaler::Pod)> = Vec::new();
        let mut pending = Vec::new();
        for p in self.live.iter().map(|&k| &self.pods[k as usize]) {
            match p.node {
                Some(id) => {
                    let Some(&i) = index.get(self.nodes[id as usize].name.as_str()) else {
                        continue;
                    };
                    bound.push((
                        i,
                        autoscaler::Pod {
                            key: p.spec.uid.clone(),
                            requests: resources(&p.requests),
                            priority: i64::from(p.spec.priority),
                            controller: p.role == Role::Placeholder,
                            daemon_set: false,
                            mirror: false,
                            safe_to_evict: None,
                            terminating: p.terminating,
                        },
                    ));
                }
                None => pending.push(autoscaler::PendingPod {
                    key: p.spec.uid.clone(),
                    requests: resources(&p.requests),
                    priority: i64::from(p.spec.priority),
                    unschedulable: p.unschedulable,
                    nominated_node: None,
                    terminating: p.terminating,
                }),
            }
        }
        for (i, pod) in bound {
            nodes[i].pods.push(pod);
        }
        // Nominations by pod id.
        for pend in &mut pending {
            if let Some(k) = Self::pod_id(&pend.key)
                && let Some(&n) = self.nominations.get(&k)
            {
                pend.nominated_node = Some(self.nodes[n as usize].name.clone());
            }
        }
        Snapshot {
            pools: self
                .options
                .pools
                .iter()
                .map(|p| autoscaler::Pool {
                    name: p.name.clone(),
                    min_size: p.min_size,
                    max_size: p.max_size,
                    allocatable: Resources {
                        cpu_milli: p.cpu_milli,
                        memory: p.memory,
                        pods: p.pods,
                    },
                })
                .collect(),
            nodes,
            pending,
        }
    }
}
