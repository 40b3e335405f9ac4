"use client";

import { useRouter } from "next/navigation";
import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { useApiUrl } from "@/lib/auth-client";
import { ApiError, TasksApi, type Task } from "@/lib/tasks-api";

const PAGE_SIZE = 5;

/** Thrown when a task changed after it was shown: nothing is written, the page reloads. */
class ChangedElsewhere extends Error {}

export function TaskList() {
  const apiUrl = useApiUrl();
  const api = useMemo(() => new TasksApi(apiUrl), [apiUrl]);
  const router = useRouter();
  // The cursor each visited page was loaded with: the last one is the page shown.
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [items, setItems] = useState<Task[]>([]);
  const [nextCursor, setNextCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [editing, setEditing] = useState<{ id: number; title: string } | null>(null);
  // ETags of the versions this page wrote itself (create/patch answers carry them).
  const versions = useRef(new Map<number, { etag: string; updatedAt: string }>());

  const load = useCallback(
    async (cursor: string | null) => {
      setLoading(true);
      try {
        const page = await api.list(PAGE_SIZE, cursor);
        setItems(page.items);
        setNextCursor(page.next_cursor);
      } finally {
        setLoading(false);
      }
    },
    [api],
  );

  /** Runs a change; maps the service's answers to what the user sees. */
  const run = useCallback(
    async (action: () => Promise<void>) => {
      setError(null);
      setNotice(null);
      try {
        await action();
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) {
          router.replace("/sign-in?next=/tasks");
          return;
        }
        if (err instanceof ChangedElsewhere || (err instanceof ApiError && err.status === 412)) {
          setNotice("That task was changed elsewhere in the meantime: nothing was overwritten, here is the current list.");
          versions.current.clear();
          await load(cursors[cursors.length - 1]).catch(() => {});
          return;
        }
        setError(err instanceof Error ? err.message : String(err));
      }
    },
    [router, load, cursors],
  );

  // Load the page shown whenever it changes (first render, Older, Newer).
  const shownCursor = cursors[cursors.length - 1];
  useEffect(() => {
    void run(() => load(shownCursor));
  }, [run, load, shownCursor]);

  /** The ETag of the version of `task` on screen; refuses when the stored task is newer. */
  async function versionOf(task: Task): Promise<string> {
    const known = versions.current.get(task.id);
    if (known && known.updatedAt === task.updated_at) return known.etag;
    const { task: current, etag } = await api.get(task.id);
    if (current.updated_at !== task.updated_at) throw new ChangedElsewhere();
    return etag;
  }

  function remember(task: Task, etag: string) {
    versions.current.set(task.id, { etag, updatedAt: task.updated_at });
  }

  function replace(task: Task) {
    setItems((list) => list.map((t) => (t.id === task.id ? task : t)));
  }

  async function onCreate(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const formElement = event.currentTarget;
    const form = new FormData(formElement);
    const title = String(form.get("title")).trim();
    const description = String(form.get("description") ?? "").trim();
    await run(async () => {
      const { task, etag } = await api.create(title, description || null);
      remember(task, etag);
      formElement.reset();
      if (cursors.length === 1) await load(null);
      else setCursors([null]);
    });
  }

  const toggle = (task: Task) =>
    run(async () => {
      const { task: updated, etag } = await api.patch(task.id, await versionOf(task), { is_completed: !task.is_completed });
      remember(updated, etag);
      replace(updated);
    });

  const saveEdit = (task: Task, title: string) =>
    run(async () => {
      const { task: updated, etag } = await api.patch(task.id, await versionOf(task), { title: title.trim() });
      remember(updated, etag);
      replace(updated);
      setEditing(null);
    });

  const remove = (task: Task) =>
    run(async () => {
      await api.remove(task.id, await versionOf(task));
      versions.current.delete(task.id);
      await load(cursors[cursors.length - 1]);
    });

  const page = cursors.length;
  return (
    <>
      <form className="card" onSubmit={onCreate} aria-label="Create a task">
        <label htmlFor="title">New task</label>
        <input id="title" name="title" type="text" required maxLength={200} placeholder="What needs doing?" />
        <label htmlFor="description">Description (optional)</label>
        <input id="description" name="description" type="text" maxLength={10000} />
        <div className="row">
          <button type="submit">Add task</button>
        </div>
      </form>

      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}

      <section className="card" aria-label="Tasks" aria-busy={loading}>
        {items.length === 0 && !loading ? <p className="muted">No tasks on this page.</p> : null}
        <ul className="tasks">
          {items.map((task) => (
            <li key={task.id} className={task.is_completed ? "done" : ""} data-testid={`task-${task.id}`}>
              <input
                type="checkbox"
                checked={task.is_completed}
                onChange={() => void toggle(task)}
                aria-label={`Done: ${task.title}`}
              />
              {editing?.id === task.id ? (
                <form
                  className="title row"
                  style={{ marginTop: 0 }}
                  onSubmit={(e) => {
                    e.preventDefault();
                    void saveEdit(task, editing.title);
                  }}
                >
                  <input
                    type="text"
                    aria-label="Title"
                    value={editing.title}
                    required
                    maxLength={200}
                    onChange={(e) => setEditing({ id: task.id, title: e.target.value })}
                    autoFocus
                  />
                  <button type="submit">Save</button>
                  <button type="button" className="secondary" onClick={() => setEditing(null)}>
                    Cancel
                  </button>
                </form>
              ) : (
                <>
                  <span className="title">
                    {task.title}
                    {task.description ? <span className="muted"> — {task.description}</span> : null}
                  </span>
                  <button className="secondary" onClick={() => setEditing({ id: task.id, title: task.title })}>
                    Edit
                  </button>
                  <button className="danger" onClick={() => void remove(task)} aria-label={`Delete: ${task.title}`}>
                    Delete
                  </button>
                </>
              )}
            </li>
          ))}
        </ul>
        <div className="row">
          <button className="secondary" disabled={page === 1 || loading} onClick={() => setCursors((c) => c.slice(0, -1))}>
            Newer
          </button>
          <span className="muted" data-testid="page">
            Page {page}
          </span>
          <button
            className="secondary"
            disabled={!nextCursor || loading}
            onClick={() => nextCursor && setCursors((c) => [...c, nextCursor])}
          >
            Older
          </button>
        </div>
      </section>
    </>
  );
}
