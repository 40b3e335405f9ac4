// The tasks API (/api/v1/tasks) from the browser: the session cookie goes along with
// `credentials: "include"`; writes are conditional on the version the user saw (`If-Match`
// with the task's ETag), so a change made elsewhere in the meantime is refused with 412
// instead of being overwritten.

export type Task = {
  id: number;
  title: string;
  description: string | null;
  is_completed: boolean;
  owner_id: string;
  created_at: string;
  updated_at: string;
};

export type TaskPage = { items: Task[]; next_cursor: string | null };

/** An error answer of the service: `{code, message}` and the HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A task and the version (ETag) it was read at. */
export type Versioned = { task: Task; etag: string };

export class TasksApi {
  constructor(private readonly apiUrl: string) {}

  private async call(path: string, init: RequestInit = {}): Promise<Response> {
    const response = await fetch(`${this.apiUrl}/api/v1/tasks${path}`, {
      ...init,
      credentials: "include",
      headers: { accept: "application/json", ...(init.body ? { "content-type": "application/json" } : {}), ...init.headers },
    });
    if (!response.ok) {
      const body = await response.json().catch(() => null);
      throw new ApiError(response.status, body?.code ?? "HTTP_ERROR", body?.message ?? `HTTP ${response.status}`);
    }
    return response;
  }

  private static versioned(response: Response, task: Task): Versioned {
    const etag = response.headers.get("etag");
    if (!etag) throw new ApiError(response.status, "NO_ETAG", "the answer carried no ETag");
    return { task, etag };
  }

  async list(limit: number, cursor: string | null): Promise<TaskPage> {
    const query = new URLSearchParams({ limit: String(limit) });
    if (cursor) query.set("cursor", cursor);
    return (await this.call(`?${query}`)).json();
  }

  async get(id: number): Promise<Versioned> {
    const response = await this.call(`/${id}`);
    return TasksApi.versioned(response, await response.json());
  }

  async create(title: string, description: string | null): Promise<Versioned> {
    const response = await this.call("", { method: "POST", body: JSON.stringify({ title, description }) });
    return TasksApi.versioned(response, await response.json());
  }

  async patch(id: number, etag: string, changes: Partial<Pick<Task, "title" | "description" | "is_completed">>): Promise<Versioned> {
    const response = await this.call(`/${id}`, { method: "PATCH", headers: { "if-match": etag }, body: JSON.stringify(changes) });
    return TasksApi.versioned(response, await response.json());
  }

  async remove(id: number, etag: string): Promise<void> {
    await this.call(`/${id}`, { method: "DELETE", headers: { "if-match": etag } });
  }
}
