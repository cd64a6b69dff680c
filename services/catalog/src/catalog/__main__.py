from catalog.main import app

app.main()
