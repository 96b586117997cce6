-- Every source and procedure of the regulation: the policy chosen on the card, the
-- Кузбасс-онлайн subcategory and result status of the final answer.
ALTER TABLE incidents ADD COLUMN policy TEXT;         -- NULL: the policy of [sla.sources]
ALTER TABLE incidents ADD COLUMN subcategory TEXT;
ALTER TABLE incidents ADD COLUMN result_status TEXT;  -- 'resolved' | 'explained'
