// The service's URL is read at request time (API_URL, API_INTERNAL_URL: see README.md), so one
// build serves every deployment.

/** @type {import('next').NextConfig} */
const nextConfig = {
  poweredByHeader: false,
  reactStrictMode: true,
};

export default nextConfig;
