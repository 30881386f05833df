-- Every site with the time zone its local days are decided in (DESIGN.md: one place, PostgreSQL):
-- `zone` is the site's `timezone` when it names a zone PostgreSQL knows (pg_timezone_names, matched
-- regardless of case, as AT TIME ZONE matches), NULL otherwise, and `zone_problem` then says why.
-- Every `AT TIME ZONE` of a site's day reads `zone`, never `timezone`: PostgreSQL raises on a name it
-- does not know, which would stop the whole statement, every other site's rows with it.
-- Used as a derived table (or CTE); reads no bind parameters.
SELECT st.site_id AS site_id, st.name AS name, st.region AS region, st.timezone AS timezone,
       st.currency AS currency, st.tax_jurisdiction AS tax_jurisdiction, z.name AS zone,
       CASE WHEN z.name IS NULL THEN 'site timezone "' || st.timezone || '" is not a time zone' END AS zone_problem
FROM sites st
LEFT JOIN pg_timezone_names z ON lower(z.name) = lower(st.timezone)
