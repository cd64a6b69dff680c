from notifications.main import app

app.main()
