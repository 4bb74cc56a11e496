-- Lifecycle lines written into the app's log stream (manifest requires log_input).
alter table heroku_calls drop constraint heroku_calls_kind_check;
alter table heroku_calls add constraint heroku_calls_kind_check
  check (kind in ('exchange_grant', 'config_update', 'provision_action', 'deprovision_action', 'app_log'));
