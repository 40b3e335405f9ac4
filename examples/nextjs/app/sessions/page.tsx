import { requireSession } from "@/lib/session";
import { Nav } from "../nav";
import { SessionList } from "./session-list";

export default async function SessionsPage() {
  const { user, session } = await requireSession("/sessions");
  return (
    <>
      <Nav email={user.email} />
      <h1>Your sessions</h1>
      <SessionList currentId={session.id} />
    </>
  );
}
