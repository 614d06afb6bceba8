//! Where a Python message object points: a shared root message and a path down to the
//! sub-message, kept right while the tree changes under it.
//!
//! ```text
//! Root ── RwLock<Message GraphDef>              gd                = Loc { root, [] }
//!      └─ registry: Weak<Loc> …                 gd.node[3]        = Loc { root, [Elem(node, 3)] }
//!                                               …attr["value"]    = Loc { root, [Elem(node, 3), Entry(attr, "value")] }
//!                                               …tensor           = Loc { root, [ …, Field(tensor)] }
//! ```
//! Python objects are cheap views: creating one allocates a `Loc` and nothing is copied; every
//! access walks the path from the root under the root's lock. A singular message field that is
//! absent reads as its default and is created when written through (protobuf's lazy
//! sub-messages).
//!
//! Edits that move or remove sub-messages first *relocate* the live locations below them, so a
//! Python object never silently points at another message: deleting `gd.node[0]` shifts the
//! paths of handles to later nodes down by one, and handles into the removed node (or into a
//! cleared field, a removed map entry, a replaced message) move onto a new root holding a copy
//! of what they pointed at: they keep their contents, detached, as protobuf's do. Handles into
//! the same removed sub-message share one new root.
//!
//! Locks: a root's message lock, then its registry, then a location's place — always in this
//! order, and never held while Python code runs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};

use fastckpt::proto::schema::{FieldDesc, Kind, MessageDesc};
use fastckpt::proto::{List, MapKey, Message, Value};
use pyo3::Python;

use crate::locks;

/// One step from a message down to a sub-message, by field number.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// A singular message field.
    Field(u32),
    /// An element of a repeated message field.
    Elem(u32, usize),
    /// The value of a map field whose values are messages.
    Entry(u32, MapKey),
}

impl Step {
    pub fn number(&self) -> u32 {
        match self {
            Step::Field(n) | Step::Elem(n, _) | Step::Entry(n, _) => *n,
        }
    }
}

/// A shared tree: one top-level message and the locations that point into it.
#[derive(Debug)]
pub struct Root {
    msg: RwLock<Message>,
    registry: Mutex<Registry>,
}

#[derive(Debug, Default)]
struct Registry {
    locs: Vec<Weak<Loc>>,
    /// Dead entries are dropped when the list reaches this length.
    prune_at: usize,
}

/// Where one Python object points. Its place changes when edits move what it points at.
#[derive(Debug)]
pub struct Loc {
    place: Mutex<Place>,
}

#[derive(Debug, Clone)]
struct Place {
    root: Arc<Root>,
    path: Arc<[Step]>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Root {
    fn new(msg: Message) -> Arc<Root> {
        Arc::new(Root { msg: RwLock::new(msg), registry: Mutex::new(Registry { locs: Vec::new(), prune_at: 256 }) })
    }

    fn register(&self, loc: &Arc<Loc>) {
        let mut reg = lock(&self.registry);
        if reg.locs.len() >= reg.prune_at {
            reg.locs.retain(|w| w.strong_count() > 0);
            reg.prune_at = (reg.locs.len() * 2).max(256);
        }
        reg.locs.push(Arc::downgrade(loc));
    }

    /// The message lock for reading. Contended only by a thread that works without the GIL
    /// (encoding, printing, importing): it is waited for with the GIL released.
    fn read(&self, py: Python<'_>) -> RwLockReadGuard<'_, Message> {
        locks::read(py, &self.msg)
    }

    fn write(&self, py: Python<'_>) -> RwLockWriteGuard<'_, Message> {
        locks::write(py, &self.msg)
    }
}

impl Loc {
    /// A new tree holding `msg`, and the location of its top.
    pub fn new_root(msg: Message) -> Arc<Loc> {
        Arc::new(Loc { place: Mutex::new(Place { root: Root::new(msg), path: Arc::from([]) }) })
    }

    fn root(&self) -> Arc<Root> {
        lock(&self.place).root.clone()
    }

    /// The path, if this location is still in the tree of `root`.
    fn path_in(&self, root: &Arc<Root>) -> Option<Arc<[Step]>> {
        let place = lock(&self.place);
        Arc::ptr_eq(&place.root, root).then(|| place.path.clone())
    }

    /// Runs `f` on the top-level message and this location's path, with the tree read-locked.
    pub fn read<R>(&self, py: Python<'_>, f: impl FnOnce(&Message, &Arc<Root>, &[Step]) -> R) -> R {
        loop {
            let root = self.root();
            let guard = root.read(py);
            // Edits move locations only while holding their root's write lock: once the read
            // lock is held, the place is stable if it is still in this tree.
            if let Some(path) = self.path_in(&root) {
                return f(&guard, &root, &path);
            }
        }
    }

    /// Runs `f` on the message this location points at (`None`: absent, reads as default).
    pub fn with<R>(&self, py: Python<'_>, f: impl FnOnce(Option<&Message>) -> R) -> R {
        self.read(py, |msg, _, path| f(resolve(msg, path)))
    }

    /// Runs `f` with the tree write-locked.
    pub fn write<R>(&self, py: Python<'_>, f: impl FnOnce(&mut Edit<'_>) -> R) -> R {
        loop {
            let root = self.root();
            let mut guard = root.write(py);
            if let Some(path) = self.path_in(&root) {
                let mut edit = Edit { root: &root, msg: &mut guard, path: &path };
                return f(&mut edit);
            }
        }
    }

    /// The location one step below this one.
    pub fn child(&self, py: Python<'_>, step: Step) -> Arc<Loc> {
        self.read(py, |_, root, path| new_loc(root, path, step))
    }

    /// The location one step below this one, the step chosen by `pick` from the message here
    /// (absent: `None`) while the tree cannot change.
    pub fn child_with<E>(
        &self,
        py: Python<'_>,
        pick: impl FnOnce(Option<&Message>) -> Result<Step, E>,
    ) -> Result<Arc<Loc>, E> {
        self.read(py, |msg, root, path| Ok(new_loc(root, path, pick(resolve(msg, path))?)))
    }
}

fn new_loc(root: &Arc<Root>, path: &[Step], step: Step) -> Arc<Loc> {
    // One allocation: the iterator knows its length.
    let steps: Arc<[Step]> = path.iter().cloned().chain([step]).collect();
    let loc = Arc::new(Loc { place: Mutex::new(Place { root: root.clone(), path: steps }) });
    root.register(&loc);
    loc
}

/// The message at `path` below `msg`; `None` when a singular message field on the way is absent.
pub fn resolve<'m>(msg: &'m Message, path: &[Step]) -> Option<&'m Message> {
    let mut cur = msg;
    for step in path {
        cur = match (step, cur.get_by_number(step.number())?) {
            (Step::Field(_), Value::Message(m)) => m,
            (Step::Elem(_, i), Value::List(List::Message(v))) => v.get(*i)?,
            (Step::Entry(_, key), Value::Map(map)) => match map.get(key)? {
                Value::Message(m) => m,
                _ => return None,
            },
            _ => return None,
        };
    }
    Some(cur)
}

/// The message at `path`, singular message fields created on the way.
fn resolve_mut<'m>(msg: &'m mut Message, path: &[Step]) -> Result<&'m mut Message, String> {
    let mut cur = msg;
    for step in path {
        let gone = || format!("the {} this object pointed into no longer holds it", cur_name(step));
        let value = cur.get_mut_by_number(step.number()).map_err(|e| e.to_string())?;
        cur = match (step, value) {
            (Step::Field(_), Value::Message(m)) => m,
            (Step::Elem(_, i), Value::List(List::Message(v))) => v.get_mut(*i).ok_or_else(gone)?,
            (Step::Entry(_, key), Value::Map(map)) => match map.get_mut(key) {
                Some(Value::Message(m)) => m,
                _ => return Err(gone()),
            },
            _ => return Err(gone()),
        };
    }
    Ok(cur)
}

fn cur_name(step: &Step) -> &'static str {
    match step {
        Step::Field(_) => "field",
        Step::Elem(..) => "list",
        Step::Entry(..) => "map",
    }
}

/// The type of the message at `path` below a message of type `desc`.
pub fn desc_at(desc: &'static MessageDesc, path: &[Step]) -> &'static MessageDesc {
    let mut cur = desc;
    for step in path {
        match cur.field_by_number(step.number()).map(|f| f.kind) {
            Some(Kind::Message(d)) => cur = d,
            _ => break,
        }
    }
    cur
}

/// What happens to one location during an edit.
enum Plan {
    Keep,
    /// A new path in the same tree.
    Move(Vec<Step>),
    /// The sub-message named by the first `n` steps goes away: the location moves onto a new
    /// root holding a copy of it.
    Cut(usize),
}

/// Edits of one tree, with the handle's path; every method that moves or drops sub-messages
/// relocates the locations below them before changing anything.
#[derive(Debug)]
pub struct Edit<'a> {
    root: &'a Arc<Root>,
    msg: &'a mut Message,
    path: &'a [Step],
}

impl Edit<'_> {
    /// The type of the message this edit targets.
    pub fn desc(&self) -> &'static MessageDesc {
        desc_at(self.msg.desc(), self.path)
    }

    /// The target as it is now (`None` when absent).
    pub fn get(&self) -> Option<&Message> {
        resolve(self.msg, self.path)
    }

    /// The target, created on the way if absent; oneof members that creating it replaces are
    /// cut off first.
    pub fn target(&mut self) -> Result<&mut Message, String> {
        let mut cuts = Vec::new();
        let mut cur = Some(&*self.msg);
        for (j, step) in self.path.iter().enumerate() {
            let Some(m) = cur else { break };
            if let (Step::Field(n), Some(field)) = (step, m.desc().field_by_number(step.number())) {
                if let Some(set) = field.oneof.and_then(|o| m.which_oneof(o)).filter(|set| set.number != *n) {
                    cuts.push((j, set.number));
                }
            }
            cur = resolve(m, std::slice::from_ref(step));
        }
        for (j, number) in cuts {
            let prefix = &self.path[..j];
            self.relocate(|p| cut_field(p, prefix, number));
        }
        resolve_mut(self.msg, self.path)
    }

    /// A location one step below the target, in this tree.
    pub fn child(&self, step: Step) -> Arc<Loc> {
        new_loc(self.root, self.path, step)
    }

    /// Before field `number` of the target is cleared or replaced.
    pub fn cut_field(&mut self, number: u32) {
        let base = self.path;
        self.relocate(|p| cut_field(p, base, number));
    }

    /// Before setting a member of a oneof: the other members go away.
    pub fn cut_oneof_siblings(&mut self, field: &FieldDesc) {
        let Some(oneof) = field.oneof else { return };
        let set = self.get().and_then(|m| m.which_oneof(oneof)).map(|f| f.number);
        if let Some(number) = set.filter(|&n| n != field.number) {
            self.cut_field(number);
        }
    }

    /// Before the target is cleared or replaced as a whole.
    pub fn cut_all(&mut self) {
        let base = self.path;
        self.relocate(
            |p| if p.len() > base.len() && p.starts_with(base) { Plan::Cut(base.len() + 1) } else { Plan::Keep },
        );
    }

    /// Before map entries of field `number` are removed or replaced.
    pub fn cut_entries(&mut self, number: u32, keys: &[MapKey]) {
        let base = self.path;
        self.relocate(|p| match p.get(base.len()) {
            Some(Step::Entry(n, k)) if *n == number && p.starts_with(base) && keys.contains(k) => {
                Plan::Cut(base.len() + 1)
            }
            _ => Plan::Keep,
        });
    }

    /// Before the elements of the repeated message field `number` are rearranged: element `i`
    /// moves to `new_of_old[i]`, or goes away when that is `None` (or `i` is past the end).
    pub fn move_elements(&mut self, number: u32, new_of_old: &[Option<usize>]) {
        let base = self.path;
        self.relocate(|p| match p.get(base.len()) {
            Some(Step::Elem(n, i)) if *n == number && p.starts_with(base) => match new_of_old.get(*i) {
                Some(Some(j)) if j == i => Plan::Keep,
                Some(Some(j)) => {
                    let mut moved = p.to_vec();
                    moved[base.len()] = Step::Elem(number, *j);
                    Plan::Move(moved)
                }
                _ => Plan::Cut(base.len() + 1),
            },
            _ => Plan::Keep,
        });
    }

    /// Before `other` is merged into the target: map entries it replaces and oneof members it
    /// switches away from go away; everything it merges into stays.
    pub fn cut_for_merge(&mut self, other: &Message) {
        let base = self.path;
        self.relocate(|p| {
            if p.len() <= base.len() || !p.starts_with(base) {
                return Plan::Keep;
            }
            let mut cur = other;
            for (j, step) in p.iter().enumerate().skip(base.len()) {
                let field = cur.desc().field_by_number(step.number());
                if let Some(set) = field.and_then(|f| f.oneof).and_then(|o| cur.which_oneof(o)) {
                    if set.number != step.number() {
                        return Plan::Cut(j + 1);
                    }
                }
                match (step, cur.get_by_number(step.number())) {
                    (Step::Field(_), Some(Value::Message(m))) => cur = m,
                    (Step::Entry(_, key), Some(Value::Map(map))) if map.contains_key(key) => return Plan::Cut(j + 1),
                    _ => return Plan::Keep,
                }
            }
            Plan::Keep
        });
    }

    /// Applies `plan` to every live location of this tree.
    fn relocate(&mut self, plan: impl Fn(&[Step]) -> Plan) {
        let msg: &Message = self.msg;
        let mut reg = lock(&self.root.registry);
        let mut cut: HashMap<Vec<Step>, Arc<Root>> = HashMap::new();
        reg.locs.retain(|weak| {
            let Some(loc) = weak.upgrade() else { return false };
            let mut place = lock(&loc.place);
            if !Arc::ptr_eq(&place.root, self.root) {
                return false; // moved to another tree earlier
            }
            match plan(&place.path) {
                Plan::Keep => true,
                Plan::Move(path) => {
                    place.path = path.into();
                    true
                }
                Plan::Cut(n) => {
                    let prefix = &place.path[..n];
                    let root = cut
                        .entry(prefix.to_vec())
                        .or_insert_with(|| {
                            let copy = match resolve(msg, prefix) {
                                Some(m) => m.clone(),
                                None => Message::new(desc_at(msg.desc(), prefix)),
                            };
                            Root::new(copy)
                        })
                        .clone();
                    lock(&root.registry).locs.push(weak.clone());
                    place.path = place.path[n..].into();
                    place.root = root;
                    false
                }
            }
        });
    }
}

/// Cuts locations below field `number` of the message at `base`.
fn cut_field(p: &[Step], base: &[Step], number: u32) -> Plan {
    match p.get(base.len()) {
        Some(step) if step.number() == number && p.starts_with(base) => Plan::Cut(base.len() + 1),
        _ => Plan::Keep,
    }
}

/// Merges `src` into `dst` as protobuf does: set scalars replace, singular messages merge,
/// lists append, map entries replace, unknown fields append.
pub fn merge_from(dst: &mut Message, src: &Message) -> fastckpt::Result<()> {
    for (field, value) in src.fields() {
        match value {
            Value::Message(m) => match dst.get_mut_by_number(field.number)? {
                Value::Message(d) if d.desc() == m.desc() => merge_from(d, m)?,
                slot => *slot = value.clone(),
            },
            Value::List(list) => match dst.get_mut_by_number(field.number)? {
                Value::List(d) => extend_list(d, list),
                slot => *slot = value.clone(),
            },
            Value::Map(map) => match dst.get_mut_by_number(field.number)? {
                Value::Map(d) => map.iter().for_each(|(k, v)| {
                    d.insert(k.clone(), v.clone());
                }),
                slot => *slot = value.clone(),
            },
            scalar => dst.set_by_number(field.number, scalar.clone())?,
        }
    }
    dst.unknown_mut().extend(src.unknown().iter().cloned());
    Ok(())
}

/// Appends the elements of `src` (of the same variant) to `dst`.
pub fn extend_list(dst: &mut List, src: &List) {
    match (dst, src) {
        (List::I32(d), List::I32(s)) | (List::Enum(d), List::Enum(s)) => d.extend_from_slice(s),
        (List::I64(d), List::I64(s)) => d.extend_from_slice(s),
        (List::U32(d), List::U32(s)) => d.extend_from_slice(s),
        (List::U64(d), List::U64(s)) => d.extend_from_slice(s),
        (List::Bool(d), List::Bool(s)) => d.extend_from_slice(s),
        (List::F32(d), List::F32(s)) => d.extend_from_slice(s),
        (List::F64(d), List::F64(s)) => d.extend_from_slice(s),
        (List::Bytes(d), List::Bytes(s)) => d.extend_from_slice(s),
        (List::Message(d), List::Message(s)) => d.extend_from_slice(s),
        _ => {}
    }
}
