import type { Metadata } from "next";
import type { ReactNode } from "react";
import { ApiProvider } from "@/lib/auth-client";
import { publicApiUrl } from "@/lib/config";
import "./globals.css";

// Rendered per request: API_URL is read at run time, and every page depends on the cookie.
export const dynamic = "force-dynamic";

export const metadata: Metadata = {
  title: "Tasks",
  description: "Example frontend for the session auth + tasks API",
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <ApiProvider apiUrl={publicApiUrl()}>
          <main>{children}</main>
        </ApiProvider>
      </body>
    </html>
  );
}
