import { requireSession } from "@/lib/session";
import { Nav } from "../nav";
import { TaskList } from "./task-list";

// Protected on the server: without a valid session cookie this redirects to /sign-in before
// anything is rendered.
export default async function TasksPage() {
  const { user } = await requireSession("/tasks");
  return (
    <>
      <Nav email={user.email} />
      <h1>{user.name}&rsquo;s tasks</h1>
      <TaskList />
    </>
  );
}
