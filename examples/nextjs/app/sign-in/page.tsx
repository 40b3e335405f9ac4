import { redirect } from "next/navigation";
import { safeNextPath } from "@/lib/next-path";
import { getServerSession } from "@/lib/session";
import { SignInForm } from "./sign-in-form";

export default async function SignInPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const next = safeNextPath((await searchParams).next);
  if (await getServerSession()) redirect(next);
  return <SignInForm next={next} />;
}
