-- A rewrap batch updates every row of the pages it covers in one transaction (rows are stored in
-- id order and batches walk ids), and an old row version cannot be pruned before its
-- transaction ends: for every update of a page to stay on it (HOT, no index entries) the page
-- needs room for a second copy of each row. With 70 % only 40 % of a rewrap's updates were HOT
-- (pg_stat_user_tables), the rest inserted into all three indexes. Applies to pages written from
-- now on; `VACUUM FULL op_object` repacks existing rows with the room.
ALTER TABLE op_object SET (fillfactor = 50);
