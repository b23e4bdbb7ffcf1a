//! The run queue: tasks ready to run, served round-robin.

use alloc::collections::VecDeque;

use super::Pid;

/// Ready tasks other than the running one, in the order they will run.
#[derive(Debug, Default)]
pub struct RunQueue {
    ready: VecDeque<Pid>,
}

impl RunQueue {
    /// An empty queue.
    pub const fn new() -> Self {
        Self {
            ready: VecDeque::new(),
        }
    }

    /// Adds `pid` at the back (a new task, or one that used up its turn). A pid already
    /// queued is not added twice.
    pub fn push(&mut self, pid: Pid) {
        if !self.ready.contains(&pid) {
            self.ready.push_back(pid);
        }
    }

    /// Puts `pid` first (moving it there if it is queued): the task an IPC call or reply
    /// just woke runs as soon as the current one blocks, without a round through the others.
    pub fn push_front(&mut self, pid: Pid) {
        self.ready.retain(|p| *p != pid);
        self.ready.push_front(pid);
    }

    /// The task whose turn it is, taken off the queue.
    pub fn pop(&mut self) -> Option<Pid> {
        self.ready.pop_front()
    }

    /// Takes `pid` off the queue (it ended); whether it was there.
    pub fn remove(&mut self, pid: Pid) -> bool {
        let before = self.ready.len();
        self.ready.retain(|p| *p != pid);
        self.ready.len() != before
    }

    /// How many tasks wait.
    pub fn len(&self) -> usize {
        self.ready.len()
    }

    /// Whether no task waits.
    pub fn is_empty(&self) -> bool {
        self.ready.is_empty()
    }

    /// Whether `pid` waits.
    pub fn contains(&self, pid: Pid) -> bool {
        self.ready.contains(&pid)
    }

    /// The turn change at a preemption or yield: if another task waits, `current` goes to the
    /// back and that task is returned; otherwise `None` (`current` keeps running).
    pub fn rotate(&mut self, current: Pid) -> Option<Pid> {
        let next = self.pop()?;
        self.push(current);
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_front_goes_first_once() {
        let mut q = RunQueue::new();
        q.push(1);
        q.push(2);
        q.push_front(2);
        q.push_front(3);
        assert_eq!(q.pop(), Some(3));
        assert_eq!(q.pop(), Some(2));
        assert_eq!(q.pop(), Some(1));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn round_robin() {
        let mut q = RunQueue::new();
        assert_eq!(q.rotate(0), None);
        q.push(1);
        q.push(2);
        q.push(2);
        assert_eq!(q.len(), 2);
        // 0 runs; then 1, 2, 0, 1, ...
        let mut running = 0;
        let mut order = alloc::vec::Vec::new();
        for _ in 0..6 {
            running = q.rotate(running).unwrap();
            order.push(running);
        }
        assert_eq!(order, [1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn removal() {
        let mut q = RunQueue::new();
        for p in [1, 2, 3] {
            q.push(p);
        }
        assert!(q.remove(2));
        assert!(!q.remove(2));
        assert!(!q.contains(2));
        assert_eq!(q.pop(), Some(1));
        assert_eq!(q.pop(), Some(3));
        assert!(q.is_empty());
        assert_eq!(q.pop(), None);
    }
}
