import { redirect } from "next/navigation";
import { getServerSession } from "@/lib/session";

export default async function Home() {
  redirect((await getServerSession()) ? "/tasks" : "/sign-in");
}
