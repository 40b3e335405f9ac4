import { redirect } from "next/navigation";
import { getServerSession } from "@/lib/session";
import { SignUpForm } from "./sign-up-form";

export default async function SignUpPage() {
  if (await getServerSession()) redirect("/tasks");
  return <SignUpForm />;
}
