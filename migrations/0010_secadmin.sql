-- 三员分立 (issue 11, DESIGN §2): the security administrator (安全管理员) joins the system
-- administrator and the auditor as an account role.

ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('staff', 'leader', 'handler', 'supervisor', 'sysadmin', 'secadmin', 'auditor'));
