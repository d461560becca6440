-- Who sees a visit (issue 12, DESIGN §11): the accounts of its host and of its organiser, and those
-- above them. The one definition every staff-side query of a visit, its registrations, rooms,
-- notices and day applies; `root` is the viewer's jurisdiction (NULL sees nothing).
CREATE FUNCTION visit_in_scope(county bigint, organiser bigint, root bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT root IS NOT NULL
       AND (county IN (SELECT jurisdiction_subtree(root))
            OR organiser IN (SELECT jurisdiction_subtree(root)))
$$;
