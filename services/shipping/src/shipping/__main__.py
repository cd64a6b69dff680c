from shipping.main import app

app.main()
