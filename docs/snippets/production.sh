export DEBUG=0 SECRET_KEY='<50+ random characters>' ALLOWED_HOSTS=sso.example.com \
       SAML_BASE_URL=https://sso.example.com DATABASE_URL=postgres://... \
       REDIS_URL=redis://redis.internal:6379/0 \
       SAML_SP_KEY_FILE=/etc/samlsite/sp.key SAML_SP_CERT_FILE=/etc/samlsite/sp.crt \
       SECURE_PROXY_SSL_HEADER=1 SECURE_SSL_REDIRECT=1 SECURE_HSTS_SECONDS=31536000 \
       SECURE_HSTS_INCLUDE_SUBDOMAINS=1 SECURE_HSTS_PRELOAD=1
.venv/bin/python manage.py check --deploy     # "System check identified no issues"
.venv/bin/python manage.py migrate
.venv/bin/python manage.py collectstatic --noinput
.venv/bin/gunicorn samlsite.wsgi --bind 0.0.0.0:8000 --workers 2   # one worker per core
