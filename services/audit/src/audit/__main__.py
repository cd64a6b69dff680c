from audit.main import app

app.main()
