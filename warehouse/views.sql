-- Convenience views created in seckb.duckdb on top of the per-table views.
-- Each statement is run after the base views (one per snapshot table) exist.

-- Active (not withdrawn) advisories per package version, with severity: the usual starting point.
CREATE OR REPLACE VIEW vulnerable_versions AS
SELECT
    av.package,
    av.version,
    av.version_canonical,
    a.id AS advisory_id,
    a.aliases,
    a.summary,
    a.cvss_score,
    a.cvss_rating,
    av.origin,
    a.published
FROM affected_versions AS av
JOIN advisories AS a ON a.id = av.advisory_id
WHERE a.withdrawn IS NULL;

-- Fixed versions per advisory and package (from `fixed` events of ECOSYSTEM ranges).
CREATE OR REPLACE VIEW advisory_fixes AS
SELECT
    advisory_id,
    package,
    list_sort(list_distinct(list(version))) AS fixed_versions
FROM advisory_ranges
WHERE event = 'fixed' AND range_type = 'ECOSYSTEM' AND valid
GROUP BY advisory_id, package;
